"""Admin auth tokens: create, list, revoke, through HTTP against the real server."""

import hashlib

import psycopg2

FUTURE = "2999-01-01T00:00:00Z"


def create(server, label="fleet", tier="edge", **extra):
    return server.admin("POST", "/v1/admin/auth-token", json={"id": label, "tier": tier, **extra})


def listed(server):
    r = server.admin("GET", "/v1/admin/auth-tokens")
    assert r.status_code == 200
    return {t["id"]: t for t in r.json()["auth-tokens"]}


def test_create_list_revoke(server):
    r = create(server, "fleet", "beta", **{"valid-until": "2999-01-01T12:00:00+02:00", "max-machines": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == "fleet" and body["tier"] == "beta"
    assert body["valid-until"] == "2999-01-01T10:00:00Z" and body["max-machines"] == 3
    token = body["token"]
    assert len(token) == 36 and token.count("-") == 4

    r = server.admin("GET", "/v1/admin/auth-tokens")
    # Neither the secret nor its hash is ever listed.
    assert token not in r.text and hashlib.sha256(token.encode()).hexdigest() not in r.text
    entry = listed(server)["fleet"]
    assert entry["tier"] == "beta" and entry["max-machines"] == 3 and entry["machines-enabled"] == 0
    assert entry["revoked"] is False and entry["expired"] is False and entry["created"].endswith("Z")
    assert entry["created-by"] == "admin"

    r = server.admin("DELETE", "/v1/admin/auth-tokens/fleet")
    assert r.status_code == 200 and r.json()["revoked"] is True
    first_revocation = r.json()["revoked-at"]
    # Revoking again is harmless and keeps the first time.
    r = server.admin("DELETE", "/v1/admin/auth-tokens/fleet")
    assert r.status_code == 200 and r.json()["revoked-at"] == first_revocation
    assert listed(server)["fleet"]["revoked"] is True


def test_minimal_token_has_no_expiry_or_limit(server):
    body = create(server, "open").json()
    assert body["valid-until"] is None and body["max-machines"] is None
    # Stored only hashed.
    conn = psycopg2.connect(server.config.database_url)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT token_hash FROM auth_tokens WHERE label = 'open'")
        assert cur.fetchone()[0] == hashlib.sha256(body["token"].encode()).hexdigest()
    conn.close()


def test_duplicate_label_conflicts_unknown_tier_not_found(server):
    assert create(server, "dup").status_code == 200
    r = create(server, "dup", "stable")
    assert r.status_code == 409 and r.json()["code"] == "token-exists"
    r = create(server, "other", "no-such-tier")
    assert r.status_code == 404 and r.json()["code"] == "tier-not-found"
    # A revoked label stays taken: the list keeps the history of who had it.
    server.admin("DELETE", "/v1/admin/auth-tokens/dup")
    assert create(server, "dup").status_code == 409


BAD_BODIES = [
    ({"tier": "edge"}, "missing-field"),
    ({"id": "x"}, "missing-field"),
    ({"id": "", "tier": "edge"}, "invalid-field"),
    ({"id": "has space", "tier": "edge"}, "invalid-field"),
    ({"id": "a/b", "tier": "edge"}, "invalid-field"),
    ({"id": "line\n", "tier": "edge"}, "invalid-field"),
    ({"id": "x" * 129, "tier": "edge"}, "invalid-field"),
    ({"id": 5, "tier": "edge"}, "invalid-field"),
    ({"id": "x", "tier": ["edge"]}, "invalid-field"),
    ({"id": "x", "tier": "edge", "valid-until": "tomorrow"}, "invalid-field"),
    ({"id": "x", "tier": "edge", "valid-until": 123}, "invalid-field"),
    ({"id": "x", "tier": "edge", "max-machines": 0}, "invalid-field"),
    ({"id": "x", "tier": "edge", "max-machines": -2}, "invalid-field"),
    ({"id": "x", "tier": "edge", "max-machines": "3"}, "invalid-field"),
    ({"id": "x", "tier": "edge", "max-machines": True}, "invalid-field"),
    ({"id": "x", "tier": "edge", "max-machines": 1.5}, "invalid-field"),
    ({"id": "x", "tier": "edge", "max-machines": 2**40}, "invalid-field"),
]


def test_valid_until_in_the_past_makes_an_expired_token(server):
    r = create(server, "late", "edge", **{"valid-until": "2020-01-01T00:00:00Z"})
    assert r.status_code == 200 and r.json()["valid-until"] == "2020-01-01T00:00:00Z", r.text
    assert listed(server)["late"]["expired"] is True
    enabled = server.request("PUT", "/v1/client/m-late", headers={"Authorization": f"Bearer {r.json()['token']}"})
    assert enabled.status_code == 401 and enabled.json()["code"] == "token-expired"


def test_bad_input_is_400(server):
    for body, code in BAD_BODIES:
        r = server.admin("POST", "/v1/admin/auth-token", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["code"] == code, body
    assert listed(server) == {}


def test_bad_json_is_400(server):
    for data in (b"", b"{nope", b"[1, 2]"):
        r = server.admin("POST", "/v1/admin/auth-token", data=data, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["code"] == "invalid-json"


def test_revoke_unknown_is_404(server):
    r = server.admin("DELETE", "/v1/admin/auth-tokens/nobody")
    assert r.status_code == 404 and r.json()["code"] == "token-not-found"


def test_admin_auth_required(server):
    for method, path in (("POST", "/v1/admin/auth-token"), ("GET", "/v1/admin/auth-tokens"),
                         ("DELETE", "/v1/admin/auth-tokens/x")):
        r = server.request(method, path, json={"id": "x", "tier": "edge"})
        assert r.status_code == 401, (method, path)
        r = server.request(method, path, json={"id": "x", "tier": "edge"}, auth=("admin", "wrong"))
        assert r.status_code == 401
    # A client auth token is not an admin credential.
    token = create(server, "client").json()["token"]
    r = server.request("GET", "/v1/admin/auth-tokens", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert set(listed(server)) == {"client"}


def test_list_counts_enabled_machines_and_expiry(server):
    token = create(server, "counted").json()["token"]
    for machine in ("m1", "m2"):
        r = server.request("PUT", f"/v1/client/{machine}", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
    assert listed(server)["counted"]["machines-enabled"] == 2
    conn = psycopg2.connect(server.config.database_url)
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE auth_tokens SET valid_until = now() - interval '1 second' WHERE label = 'counted'")
    conn.close()
    assert listed(server)["counted"]["expired"] is True
