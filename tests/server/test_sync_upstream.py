"""Sync, upstream side: sync tokens (create, list, revoke, expiry), who may call
/v1/sync/*, and how downstream machine counts are stored (bucketed or exact)."""

import time
from datetime import datetime, timedelta, timezone

import pytest


def make_sync_token(server, name="down-1", tier="stable", **extra):
    r = server.admin("POST", "/v1/admin/sync-tokens", json={"name": name, "tier": tier, **extra})
    assert r.status_code == 200, r.text
    return r.json()["token"]


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_sync_token_lifecycle(server):
    r = server.admin("POST", "/v1/admin/sync-tokens", json={"name": "site-a", "tier": "stable"})
    assert r.status_code == 200
    body = r.json()
    token = body["token"]
    assert body["name"] == "site-a" and body["tier"] == "stable" and body["valid-until"] is None
    listed = server.admin("GET", "/v1/admin/sync-tokens").json()["sync-tokens"]
    assert listed == [{"name": "site-a", "tier": "stable", "created": body["created"], "valid-until": None,
                       "expired": False, "revoked": False, "revoked-at": None}]
    assert token not in server.admin("GET", "/v1/admin/sync-tokens").text
    assert server.request("GET", "/v1/sync/snapshot", headers=bearer(token)).status_code == 200

    # A second active token of the same name is refused; after revoking, the name is free.
    again = server.admin("POST", "/v1/admin/sync-tokens", json={"name": "site-a", "tier": "edge"})
    assert again.status_code == 409 and again.json()["code"] == "token-exists"
    r = server.admin("DELETE", "/v1/admin/sync-tokens/site-a")
    assert r.status_code == 200 and r.json() == {"name": "site-a", "revoked": True}
    r = server.request("GET", "/v1/sync/snapshot", headers=bearer(token))
    assert r.status_code == 401 and r.json()["code"] == "invalid-token" and "revoked" in r.json()["error"]
    assert server.admin("DELETE", "/v1/admin/sync-tokens/site-a").status_code == 404
    fresh = make_sync_token(server, "site-a", "edge")
    assert server.request("GET", "/v1/sync/snapshot", headers=bearer(fresh)).json()["tier"] == "edge"
    assert server.request("GET", "/v1/sync/snapshot", headers=bearer(token)).status_code == 401


def test_sync_token_bad_input(server):
    cases = [
        ({"tier": "stable"}, 400, "missing-field"),
        ({"name": "x"}, 400, "missing-field"),
        ({"name": "a/b", "tier": "stable"}, 400, "invalid-field"),
        ({"name": "", "tier": "stable"}, 400, "invalid-field"),
        ({"name": 5, "tier": "stable"}, 400, "invalid-field"),
        ({"name": "x\n", "tier": "stable"}, 400, "invalid-field"),  # "$" alone let a trailing newline in
        ({"name": "x", "tier": "nope"}, 404, "tier-not-found"),
        ({"name": "x", "tier": "stable", "valid-until": "tomorrow"}, 400, "invalid-field"),
    ]
    for body, status, code in cases:
        r = server.admin("POST", "/v1/admin/sync-tokens", json=body)
        assert (r.status_code, r.json()["code"]) == (status, code), body
    r = server.admin("POST", "/v1/admin/sync-tokens", data="{not json")
    assert r.status_code == 400 and r.json()["code"] == "invalid-json"
    # A time already past makes a token born expired.
    r = server.admin("POST", "/v1/admin/sync-tokens",
                     json={"name": "late", "tier": "stable", "valid-until": "2001-01-01T00:00:00Z"})
    assert r.status_code == 200 and r.json()["valid-until"] == "2001-01-01T00:00:00Z", r.text
    late = [t for t in server.admin("GET", "/v1/admin/sync-tokens").json()["sync-tokens"] if t["name"] == "late"]
    assert late[0]["expired"] is True
    # An offset PostgreSQL refuses (past 15:59) is kept in UTC: no 500.
    r = server.admin("POST", "/v1/admin/sync-tokens",
                     json={"name": "far", "tier": "stable", "valid-until": "4714-11-29T19:25:12.432-19:56"})
    assert r.status_code == 200 and r.json()["valid-until"] == "4714-11-30T15:21:12Z", r.text
    # Admin auth is required on every sync admin endpoint.
    for method, path in [("POST", "/v1/admin/sync-tokens"), ("GET", "/v1/admin/sync-tokens"),
                         ("DELETE", "/v1/admin/sync-tokens/x"), ("GET", "/v1/admin/sync/deployments"),
                         ("POST", "/v1/admin/sync/trigger"), ("GET", "/v1/admin/sync/reports"),
                         ("POST", "/v1/admin/storage/refresh")]:
        r = server.request(method, path, json={"name": "x", "tier": "stable"})
        assert r.status_code == 401, (method, path)


def test_expired_sync_token_is_refused(server):
    soon = (datetime.now(timezone.utc) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    token = make_sync_token(server, "short", "stable", **{"valid-until": soon})
    assert server.request("GET", "/v1/sync/snapshot", headers=bearer(token)).status_code == 200
    time.sleep(2.2)
    r = server.request("GET", "/v1/sync/snapshot", headers=bearer(token))
    assert r.status_code == 401 and r.json()["code"] == "invalid-token"
    assert "expired" in r.json()["error"]
    listed = server.admin("GET", "/v1/admin/sync-tokens").json()["sync-tokens"]
    assert listed[0]["expired"] is True and listed[0]["valid-until"] == soon


def test_only_sync_tokens_are_accepted(server):
    r = server.request("GET", "/v1/sync/snapshot")
    assert r.status_code == 401 and r.json()["code"] == "missing-credentials"
    # A Pro resource token (a macaroon, not UUID-shaped) cannot be checked here.
    r = server.request("GET", "/v1/sync/snapshot", headers=bearer("MDAxY2xvY2F0aW9uIGNvbnRyYWN0cw"))
    assert r.status_code == 401 and r.json()["code"] == "invalid-token"
    assert "resource token" in r.json()["error"]
    r = server.request("GET", "/v1/sync/snapshot", headers=bearer("6f1c1a52-8f55-4c64-9c43-2a5e1f7f4e10"))
    assert r.status_code == 401 and r.json()["code"] == "invalid-token"
    # Admin credentials are not a sync token either.
    r = server.admin("GET", "/v1/sync/snapshot")
    assert r.status_code == 401
    r = server.request("POST", "/v1/sync/report", json={"deployment-id": "d", "machine-count": 1})
    assert r.status_code == 401


def test_snapshot_query_validation(server):
    token = make_sync_token(server)
    ok = server.request("GET", "/v1/sync/snapshot", headers=bearer(token),
                        params={"flavours": "generic,aws-fips", "architectures": "amd64",
                                "minimum-kernel-version": "5.4"})
    assert ok.status_code == 200
    assert ok.json() == {"tier": "stable", "patches": [], "blocklist": []}
    long_name = server.request("GET", "/v1/sync/snapshot", headers=bearer(token), params={"flavours": "a" * 100})
    assert long_name.status_code == 200 and long_name.json()["patches"] == []
    for params in ({"minimum-kernel-version": "five"}, {"minimum-kernel-version": "5.4.0.1"},
                   {"flavours": "generic;drop"}, {"architectures": "AMD64"},
                   {"minimum-kernel-version": "99999999999.1"},
                   {"minimum-kernel-version": "\uff15.\uff14"}):  # fullwidth digits: not ASCII
        r = server.request("GET", "/v1/sync/snapshot", headers=bearer(token), params=params)
        assert r.status_code == 400 and r.json()["code"] == "invalid-query", params


@pytest.mark.parametrize("count,stored", [
    (0, 0), (1, 1), (49, 1), (50, 50), (99, 50), (100, 100), (499, 100), (500, 500), (999, 500),
    (1000, 1000), (1999, 1000), (2000, 2000), (4999, 2000), (5000, 5000), (9999, 5000),
    (10000, 10000), (123456, 10000),
])
def test_report_buckets(count, stored):
    from livepatch_app.sync.machine_count import bucket

    assert bucket(count) == stored


def test_sync_report_bucketed_or_exact(server):
    token = make_sync_token(server, "site-b")
    r = server.request("POST", "/v1/sync/report", headers=bearer(token),
                       json={"deployment-id": "dep-1", "machine-count": 1234})
    assert r.status_code == 200
    assert r.json()["machine-count"] == 1000 and r.json()["exact"] is False
    r = server.request("POST", "/v1/sync/report", headers=bearer(token),
                       json={"deployment-id": "dep-2", "machine-count": 1234, "exact": True})
    assert r.json()["machine-count"] == 1234 and r.json()["exact"] is True
    # A later report replaces the earlier one for that deployment.
    server.request("POST", "/v1/sync/report", headers=bearer(token),
                   json={"deployment-id": "dep-1", "machine-count": 60})
    listed = server.admin("GET", "/v1/admin/sync/deployments").json()["deployments"]
    assert [(d["deployment-id"], d["sync-token"], d["machine-count"], d["exact"]) for d in listed] == [
        ("dep-1", "site-b", 50, False), ("dep-2", "site-b", 1234, True)]

    for body in ({"machine-count": 5}, {"deployment-id": "d"}, {"deployment-id": "d", "machine-count": -1},
                 {"deployment-id": "d", "machine-count": "5"}, {"deployment-id": "d", "machine-count": 2**40},
                 {"deployment-id": "d", "machine-count": 5, "exact": "yes"},
                 {"deployment-id": "bad id", "machine-count": 5}, {"deployment-id": "d\n", "machine-count": 5},
                 {"deployment-id": "d", "machine-count": 1.5}):
        r = server.request("POST", "/v1/sync/report", headers=bearer(token), json=body)
        assert r.status_code == 400, body
    r = server.request("POST", "/v1/sync/report", headers=bearer(token), data="[1]")
    assert r.status_code == 400 and r.json()["code"] == "invalid-json"
