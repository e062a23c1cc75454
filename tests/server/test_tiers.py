"""Admin tier endpoints through HTTP: order, create, delete, promote-all."""

import pytest

SMALL = {"concurrency_limit": 8, "burst_limit": 4}  # few waitress threads per test server


@pytest.fixture
def server(make_server):
    return make_server(**SMALL)


def name_for(version="107.1", arch="amd64"):
    return f"livepatch-5.15.0-107.117-generic-{version}-{arch}.tar.bz2"


def upload(server, filename, data=None):
    r = server.admin("PUT", f"/v1/admin/patches/{filename}", data=data or filename.encode())
    assert r.status_code == 201, r.text
    return r.json()




def tier_names(server):
    r = server.admin("GET", "/v1/admin/tiers")
    assert r.status_code == 200
    return [t["name"] for t in r.json()["tiers"]]


def test_default_tiers_in_order_with_counts(server):
    upload(server, name_for())
    server.sql("INSERT INTO machines (machine_id, token_hash, tier_id) "
                "SELECT 'm1', 'h1', id FROM tiers WHERE name = 'beta'")
    tiers = server.admin("GET", "/v1/admin/tiers").json()["tiers"]
    assert [(t["name"], t["position"], t["patches"], t["machines"]) for t in tiers] == [
        ("edge", 1, 1, 0), ("beta", 2, 0, 1), ("candidate", 3, 0, 0), ("stable", 4, 0, 0)]
    assert all(t["created-at"].endswith("Z") for t in tiers)
    assert server.request("GET", "/v1/admin/tiers").status_code == 401


def test_create_at_end_and_after(server):
    r = server.admin("POST", "/v1/admin/tiers", json={"name": "lts"})
    assert r.status_code == 201 and r.json()["name"] == "lts" and r.json()["position"] == 5
    r = server.admin("POST", "/v1/admin/tiers", json={"name": "qa-1", "after": "edge"})
    assert r.status_code == 201 and r.json()["position"] == 2
    r = server.admin("POST", "/v1/admin/tiers", json={"name": "late", "after": "lts"})
    assert r.status_code == 201
    assert tier_names(server) == ["edge", "qa-1", "beta", "candidate", "stable", "lts", "late"]


def test_create_bad_input(server):
    for body, status, code in [
        ({"name": "Edge2"}, 400, "invalid-tier-name"),
        ({"name": "-x"}, 400, "invalid-tier-name"),
        ({"name": "a" * 64}, 400, "invalid-tier-name"),
        ({"name": "a b"}, 400, "invalid-tier-name"),
        ({"name": "ok\n"}, 400, "invalid-tier-name"),
        ({"name": ""}, 400, "invalid-field"),
        ({}, 400, "missing-field"),
        ({"name": 5}, 400, "invalid-field"),
        ({"name": "edge"}, 409, "tier-exists"),
        ({"name": "new", "after": "nope"}, 404, "tier-not-found"),
        ({"name": "new", "after": 3}, 400, "invalid-field"),
        ({"name": "new", "afer": "edge"}, 400, "unknown-field"),  # a misspelt field is not ignored
    ]:
        r = server.admin("POST", "/v1/admin/tiers", json=body)
        assert (r.status_code, r.json()["code"]) == (status, code), (body, r.text)
    assert tier_names(server) == ["edge", "beta", "candidate", "stable"]


def test_create_refuses_non_json(server):
    r = server.admin("POST", "/v1/admin/tiers", data="name=x")
    assert r.status_code == 400 and r.json()["code"] == "invalid-json"
    assert server.request("POST", "/v1/admin/tiers", json={"name": "x"}).status_code == 401


def test_delete_tier_and_the_first_tier_moves(server):
    upload(server, name_for())
    r = server.admin("DELETE", "/v1/admin/tiers/edge")
    assert r.status_code == 200 and r.json() == {"name": "edge", "deleted": True}
    assert tier_names(server) == ["beta", "candidate", "stable"]
    # The patch lost its only tier; new uploads land in the new first tier.
    assert upload(server, name_for("107.2"))["tiers"] == ["beta"]
    r = server.admin("DELETE", "/v1/admin/tiers/edge")
    assert r.status_code == 404 and r.json()["code"] == "tier-not-found"
    assert server.request("DELETE", "/v1/admin/tiers/beta").status_code == 401


def test_delete_refused_while_in_use(server):
    server.sql("INSERT INTO machines (machine_id, token_hash, tier_id) SELECT 'm1', 'h1', id FROM tiers WHERE name = 'beta'")
    server.sql("INSERT INTO auth_tokens (label, token_hash, tier_id) SELECT 'a1', 'h2', id FROM tiers WHERE name = 'candidate'")
    server.sql("INSERT INTO sync_tokens (name, token_hash, tier_id) SELECT 's1', 'h3', id FROM tiers WHERE name = 'stable'")
    for tier, what in (("beta", "machine"), ("candidate", "auth token"), ("stable", "sync token")):
        r = server.admin("DELETE", f"/v1/admin/tiers/{tier}")
        assert r.status_code == 409 and r.json()["code"] == "tier-in-use" and what in r.json()["error"], r.text
    # Revoked and expired tokens no longer hold a tier; they go with it.
    server.sql("UPDATE auth_tokens SET revoked_at = now()")
    server.sql("UPDATE sync_tokens SET valid_until = now() - interval '1 day'")
    assert server.admin("DELETE", "/v1/admin/tiers/candidate").status_code == 200
    assert server.admin("DELETE", "/v1/admin/tiers/stable").status_code == 200
    assert server.sql("SELECT count(*) FROM auth_tokens")[0][0] == 0
    server.sql("DELETE FROM machines")
    assert server.admin("DELETE", "/v1/admin/tiers/beta").status_code == 200
    assert tier_names(server) == ["edge"]


def test_last_tier_cannot_be_deleted(server):
    for tier in ("beta", "candidate", "stable"):
        assert server.admin("DELETE", f"/v1/admin/tiers/{tier}").status_code == 200
    r = server.admin("DELETE", "/v1/admin/tiers/edge")
    assert r.status_code == 409 and r.json()["code"] == "last-tier"
    assert tier_names(server) == ["edge"]


def test_tier_patches_and_promote_all(server):
    a, b = name_for("107.1"), name_for("107.2")
    upload(server, a)
    upload(server, b)
    r = server.admin("GET", "/v1/admin/tiers/edge/patches")
    assert r.status_code == 200 and r.json()["tier"] == "edge" and r.json()["total"] == 2
    assert server.admin("GET", "/v1/admin/tiers/candidate/patches").json()["patches"] == []

    r = server.admin("POST", "/v1/admin/tiers/edge/promote-all", json={"to": "candidate"})
    assert r.status_code == 200, r.text
    assert r.json() == {"from": "edge", "to": "candidate", "tiers": ["beta", "candidate"], "added": 4}
    for tier in ("beta", "candidate"):
        listed = server.admin("GET", f"/v1/admin/tiers/{tier}/patches").json()["patches"]
        assert sorted(p["filename"] for p in listed) == sorted([a, b])
    assert server.admin("GET", "/v1/admin/tiers/stable/patches").json()["total"] == 0
    # Filters and paging work on a tier's list too.
    assert server.admin("GET", "/v1/admin/tiers/beta/patches?version=107.2").json()["total"] == 1
    assert len(server.admin("GET", "/v1/admin/tiers/beta/patches?limit=1").json()["patches"]) == 1

    # Same tier: nothing to do. Backwards: refused.
    assert server.admin("POST", "/v1/admin/tiers/beta/promote-all", json={"to": "beta"}).json()["added"] == 0
    r = server.admin("POST", "/v1/admin/tiers/candidate/promote-all", json={"to": "edge"})
    assert r.status_code == 409 and r.json()["code"] == "invalid-promotion"
    for path, body, status, code in [
        ("/v1/admin/tiers/nope/promote-all", {"to": "beta"}, 404, "tier-not-found"),
        ("/v1/admin/tiers/edge/promote-all", {"to": "nope"}, 404, "tier-not-found"),
        ("/v1/admin/tiers/edge/promote-all", {}, 400, "missing-field"),
        ("/v1/admin/tiers/edge/promote-all", {"to": ["beta"]}, 400, "invalid-field"),
        ("/v1/admin/tiers/edge/promote-all", {"to": "beta", "from": "edge"}, 400, "unknown-field"),
    ]:
        r = server.admin("POST", path, json=body)
        assert (r.status_code, r.json()["code"]) == (status, code), (path, body)
    assert server.admin("GET", "/v1/admin/tiers/nope/patches").status_code == 404
    assert server.request("POST", "/v1/admin/tiers/edge/promote-all", json={"to": "beta"}).status_code == 401


def test_promote_all_only_moves_what_the_source_tier_has(server):
    a, b = name_for("107.1"), name_for("108.1")
    upload(server, a)
    upload(server, b)
    assert server.admin("POST", "/v1/admin/patches/107.1/promote", json={"tier": "beta"}).status_code == 200
    r = server.admin("POST", "/v1/admin/tiers/beta/promote-all", json={"to": "stable"})
    assert r.json()["added"] == 2
    stable = server.admin("GET", "/v1/admin/tiers/stable/patches").json()["patches"]
    assert [p["filename"] for p in stable] == [a]
    assert [p["tiers"] for p in stable] == [["edge", "beta", "candidate", "stable"]]
