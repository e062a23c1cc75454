"""Clients: enable with an auth token, check in with the machine token, info,
legacy paths, and the machine limit; through HTTP against the real server."""

import hashlib
import logging
import threading

import requests

from livepatch_app.patchname import parse_patch_name

MACHINE = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"
KERNEL = "5.15.0-107.117-generic"
P1 = "livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2"
P2 = "livepatch-5.15.0-107.117-generic-107.2-amd64.tar.bz2"
P3 = "livepatch-5.15.0-107.117-generic-107.3-amd64.tar.bz2"


def auth_token(server, label="fleet", tier="edge", **extra):
    r = server.admin("POST", "/v1/admin/auth-token", json={"id": label, "tier": tier, **extra})
    assert r.status_code == 200, r.text
    return r.json()["token"]


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def enable(server, token, machine=MACHINE):
    return server.request("PUT", f"/v1/client/{machine}", headers=bearer(token))


def machine_token(server, machine=MACHINE, tier="edge"):
    r = enable(server, auth_token(server, f"t-{machine[:8]}-{tier}", tier), machine)
    assert r.status_code == 200, r.text
    return r.json()["machine-token"]


def check_in(server, token, machine=MACHINE, legacy=False, **report):
    body = {"kernel": KERNEL, "architecture": "amd64", **report}
    if legacy:
        return server.request("PUT", f"/api/machine/{machine}", json=body, headers=bearer(token))
    return server.request("POST", f"/v1/client/{machine}/updates", json=body, headers=bearer(token))




def add_patch(server, filename, promote_to=None):
    """Uploads a patch (it lands in the first tier, edge) and optionally promotes
    its version up to `promote_to`; -> its sha256."""
    r = server.admin("PUT", f"/v1/admin/patches/{filename}", data=f"bytes of {filename}".encode())
    assert r.status_code == 201, r.text
    if promote_to:
        version = parse_patch_name(filename).version
        r = server.admin("POST", f"/v1/admin/patches/{version}/promote", json={"tier": promote_to})
        assert r.status_code == 200, r.text
    return hashlib.sha256(f"bytes of {filename}".encode()).hexdigest()


# --- enable -------------------------------------------------------------------

def test_enable_then_info(server):
    token = auth_token(server, tier="beta")
    r = enable(server, token)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tier"] == "beta" and len(body["machine-token"]) == 36
    r = server.request("GET", f"/v1/client/{MACHINE}/info", headers=bearer(body["machine-token"]))
    assert r.status_code == 200
    assert r.json() == {"machine-id": MACHINE, "tier": "beta", "enabled": True, "last-check-in": None}
    # The auth token is not a machine token.
    r = server.request("GET", f"/v1/client/{MACHINE}/info", headers=bearer(token))
    assert r.status_code == 401 and r.json()["code"] == "invalid-token"
    # Stored only hashed.
    assert server.sql("SELECT token_hash FROM machines")[0][0] != body["machine-token"]


def test_reenable_replaces_the_machine_token_and_moves_tier(server):
    edge = auth_token(server, "e", "edge")
    stable = auth_token(server, "s", "stable")
    first = enable(server, edge).json()["machine-token"]
    second = enable(server, edge).json()["machine-token"]
    assert first != second
    r = server.request("GET", f"/v1/client/{MACHINE}/info", headers=bearer(first))
    assert r.status_code == 401 and r.json()["code"] == "invalid-token"
    assert server.request("GET", f"/v1/client/{MACHINE}/info", headers=bearer(second)).status_code == 200
    r = enable(server, stable)
    assert r.json()["tier"] == "stable"
    info = server.request("GET", f"/v1/client/{MACHINE}/info", headers=bearer(r.json()["machine-token"])).json()
    assert info["tier"] == "stable"
    assert server.sql("SELECT count(*) FROM machines")[0][0] == 1


def test_enable_refusals(server):
    assert enable(server, None).status_code == 401
    r = server.request("PUT", f"/v1/client/{MACHINE}")
    assert r.status_code == 401 and r.json()["code"] == "missing-credentials"
    r = enable(server, "00000000-0000-4000-8000-000000000000")
    assert r.status_code == 401 and r.json()["code"] == "invalid-token"

    revoked = auth_token(server, "revoked")
    server.admin("DELETE", "/v1/admin/auth-tokens/revoked")
    r = enable(server, revoked)
    assert r.status_code == 401 and r.json()["code"] == "token-revoked"

    expired = auth_token(server, "expired", **{"valid-until": "2999-01-01T00:00:00Z"})
    server.sql("UPDATE auth_tokens SET valid_until = now() - interval '1 minute' WHERE label = 'expired'")
    r = enable(server, expired)
    assert r.status_code == 401 and r.json()["code"] == "token-expired"

    good = auth_token(server, "good")
    for bad_id in ("x" * 129, "has%20space", "semi;colon", "trailing%0A"):
        r = server.request("PUT", f"/v1/client/{bad_id}", headers=bearer(good))
        assert r.status_code == 400 and r.json()["code"] == "invalid-machine-id", bad_id
    r = server.request("PUT", "/v1/client/%00", headers=bearer(good))  # text no column can hold
    assert r.status_code == 400 and r.json()["code"] == "invalid-text"
    assert server.sql("SELECT count(*) FROM machines")[0][0] == 0


def test_revoked_token_keeps_machines_it_enabled(server):
    token = auth_token(server, "gone")
    mtoken = enable(server, token).json()["machine-token"]
    server.admin("DELETE", "/v1/admin/auth-tokens/gone")
    assert check_in(server, mtoken).status_code == 200
    assert enable(server, token, OTHER).status_code == 401


def test_machine_limit(server):
    token = auth_token(server, "two", **{"max-machines": 2})
    a = enable(server, token, "machine-a")
    assert a.status_code == 200
    assert enable(server, token, "machine-b").status_code == 200
    r = enable(server, token, "machine-c")
    assert r.status_code == 403 and r.json()["code"] == "machine-limit-reached"
    # Re-enabling an enabled machine does not count twice.
    assert enable(server, token, "machine-a").status_code == 200
    assert enable(server, token, "machine-b").status_code == 200
    # Forgetting one frees its place.
    assert server.admin("DELETE", "/v1/admin/machines/machine-a").status_code == 200
    assert enable(server, token, "machine-c").status_code == 200
    assert sorted(r[0] for r in server.sql("SELECT machine_id FROM machines")) == ["machine-b", "machine-c"]


def test_machine_limit_holds_under_concurrent_enables(server):
    token = auth_token(server, "three", **{"max-machines": 3})
    codes = []

    def run(i):
        codes.append(enable(server, token, f"racer-{i}").status_code)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [200] * 3 + [403] * 9
    assert server.sql("SELECT count(*) FROM machines")[0][0] == 3


def test_legacy_enable(server):
    token = auth_token(server, tier="candidate")
    r = server.request("POST", "/api/machine-tokens", json={"machine-id": MACHINE}, headers=bearer(token))
    assert r.status_code == 200 and r.json()["tier"] == "candidate"
    assert check_in(server, r.json()["machine-token"], legacy=True).status_code == 200
    r = server.request("POST", "/api/machine-tokens", json={}, headers=bearer(token))
    assert r.status_code == 400 and r.json()["code"] == "missing-field"
    r = server.request("POST", "/api/machine-tokens", json={"machine-id": "bad id"}, headers=bearer(token))
    assert r.status_code == 400 and r.json()["code"] == "invalid-machine-id"
    r = server.request("POST", "/api/machine-tokens", data=b"nope", headers=bearer(token))
    assert r.status_code == 400 and r.json()["code"] == "invalid-json"
    r = server.request("POST", "/api/machine-tokens", json={"machine-id": OTHER}, headers=bearer("wrong"))
    assert r.status_code == 401 and r.json()["code"] == "invalid-token"


def test_legacy_enable_checks_the_token_before_the_body(server):
    for data in (None, b"", b"nope", b'{"machine-id": "bad id"}', b'{"machine-id": "%s"}' % MACHINE.encode()):
        r = server.request("POST", "/api/machine-tokens", data=data)
        assert r.status_code == 401 and r.json()["code"] == "missing-credentials", (data, r.text)
        r = server.request("POST", "/api/machine-tokens", data=data, headers=bearer("wrong"))
        assert r.status_code == 401 and r.json()["code"] == "invalid-token", (data, r.text)
    assert server.sql("SELECT count(*) FROM machines")[0][0] == 0


# --- check-in -----------------------------------------------------------------

def test_check_in_offers_newest_visible_unblocked_patch(server):
    add_patch(server, P1, promote_to="beta")
    sha2 = add_patch(server, P2, promote_to="beta")
    add_patch(server, P3)  # newest, but only in edge
    add_patch(server, "livepatch-5.15.0-107.117-generic-107.9-arm64.tar.bz2")       # other arch
    add_patch(server, "livepatch-5.15.0-107.117-lowlatency-107.9-amd64.tar.bz2")    # other flavour
    add_patch(server, "livepatch-5.15.0-108.118-generic-108.9-amd64.tar.bz2")       # other kernel
    beta = machine_token(server, MACHINE, "beta")
    r = check_in(server, beta, **{"patch-state": "applied", "patch-version": "107.1"})
    assert r.status_code == 200, r.text
    assert r.json() == {"patches": [{
        "version": "107.2", "filename": P2, "url": f"{server.url}/v1/patches/{P2}",
        "sha256": sha2, "size": len(f"bytes of {P2}"), "kernel": "5.15.0-107.117"}]}
    # The URL serves the very bytes the sha256 names.
    download = requests.get(r.json()["patches"][0]["url"], timeout=30)
    assert download.status_code == 200 and hashlib.sha256(download.content).hexdigest() == sha2

    edge = machine_token(server, OTHER, "edge")
    assert check_in(server, edge, OTHER).json()["patches"][0]["filename"] == P3
    # A blocked patch is offered to nobody: the next newest is.
    assert server.admin("POST", f"/v1/admin/patches/{P3}/block", json={"reason": "test"}).status_code == 200
    assert check_in(server, edge, OTHER).json()["patches"][0]["filename"] == P2
    # Stable sees nothing; so does a kernel nobody patched, or a custom one.
    stable = machine_token(server, "stable-machine", "stable")
    assert check_in(server, stable, "stable-machine").json() == {"patches": []}
    assert check_in(server, edge, OTHER, kernel="6.8.0-31.31-generic").json() == {"patches": []}
    assert check_in(server, edge, OTHER, kernel="6.8.0-custom+").json() == {"patches": []}


def test_check_in_architecture_aliases(server):
    add_patch(server, P1)
    add_patch(server, "livepatch-5.15.0-107.117-generic-107.1-arm64.tar.bz2")
    token = machine_token(server)
    assert check_in(server, token, architecture="x86_64").json()["patches"][0]["filename"] == P1
    r = check_in(server, token, architecture="aarch64").json()
    assert r["patches"][0]["filename"].endswith("-arm64.tar.bz2")
    assert server.sql("SELECT architecture FROM machines")[0][0] == "arm64"


def test_check_in_stores_latest_state_and_history(server):
    token = machine_token(server)
    full = {"patch-state": "applied", "patch-version": "107.1", "client-version": "10.8.3",
            "boot-time": "2026-01-01T10:00:00Z", "uptime": 3600, "cpu-model": "Intel(R) Xeon(R) @ 2.20GHz"}
    assert check_in(server, token, **full).status_code == 200
    assert check_in(server, token, legacy=True, **{"patch-state": "needs-check"}).status_code == 200
    rows = server.sql("""SELECT kernel, architecture, patch_state, patch_version, client_version,
                                 boot_time, uptime, cpu_model, last_check_in IS NOT NULL FROM machines""")
    assert rows == [(KERNEL, "amd64", "needs-check", None, None, None, None, None, True)]
    history = server.sql("""SELECT machine_id, patch_state, patch_version, uptime, cpu_model, tier_id
                             FROM machine_reports ORDER BY id""")
    assert [h[:5] for h in history] == [
        (MACHINE, "applied", "107.1", 3600, "Intel(R) Xeon(R) @ 2.20GHz"),
        (MACHINE, "needs-check", None, None, None)]
    info = server.request("GET", f"/v1/client/{MACHINE}/info", headers=bearer(token)).json()
    assert info["last-check-in"].endswith("Z")
    metrics = server.request("GET", "/metrics").text
    assert 'livepatch_patch_ping_events{patch_state="applied",tier="edge"} 1' in metrics
    assert 'livepatch_patch_ping_events{patch_state="needs-check",tier="edge"} 1' in metrics


def test_check_in_bad_input_is_400_and_stores_nothing(server):
    token = machine_token(server)
    cases = [
        ({"kernel": None}, "missing-field"),
        ({"kernel": ""}, "invalid-field"),
        ({"kernel": 5}, "invalid-field"),
        ({"kernel": "5.15.0 107"}, "invalid-field"),
        ({"kernel": "x" * 200}, "invalid-field"),
        ({"architecture": None}, "missing-field"),
        ({"architecture": "sparc"}, "invalid-architecture"),
        ({"architecture": "AMD64"}, "invalid-architecture"),  # case matters, as the OpenAPI document says
        ({"patch-state": "Applied"}, "invalid-patch-state"),
        ({"patch-state": "great"}, "invalid-patch-state"),
        ({"patch-state": 3}, "invalid-field"),
        ({"uptime": "12"}, "invalid-field"),
        ({"uptime": -1}, "invalid-field"),
        ({"uptime": 2**70}, "invalid-field"),
        ({"cpu-model": "a\x00b"}, "invalid-text"),
        ({"cpu-model": "c" * 300}, "invalid-field"),
        ({"patch-version": "1.0; DROP"}, "invalid-field"),
    ]
    for overrides, code in cases:
        body = {"kernel": KERNEL, "architecture": "amd64"}
        body.update(overrides)
        body = {k: v for k, v in body.items() if v is not None}
        r = server.request("POST", f"/v1/client/{MACHINE}/updates", json=body, headers=bearer(token))
        assert r.status_code == 400, (overrides, r.text)
        assert r.json()["code"] == code, overrides
    for data in (b"", b"not json", b"[]"):
        r = server.request("POST", f"/v1/client/{MACHINE}/updates", data=data, headers=bearer(token))
        assert r.status_code == 400 and r.json()["code"] == "invalid-json"
    assert server.sql("SELECT count(*) FROM machine_reports")[0][0] == 0
    assert server.sql("SELECT last_check_in FROM machines")[0][0] is None


def test_check_in_auth(server):
    mine = machine_token(server, MACHINE)
    machine_token(server, OTHER)
    r = server.request("POST", f"/v1/client/{MACHINE}/updates", json={"kernel": KERNEL, "architecture": "amd64"})
    assert r.status_code == 401 and r.json()["code"] == "missing-credentials"
    r = check_in(server, "00000000-0000-4000-8000-000000000000")
    assert r.status_code == 401 and r.json()["code"] == "invalid-token"
    # My token on another machine's path: refused, and nothing of the other machine shown or changed.
    r = check_in(server, mine, OTHER)
    assert r.status_code == 403 and r.json()["code"] == "machine-mismatch"
    assert OTHER not in r.text
    r = server.request("GET", f"/v1/client/{OTHER}/info", headers=bearer(mine))
    assert r.status_code == 403 and r.json()["code"] == "machine-mismatch"
    assert server.sql("SELECT count(*) FROM machine_reports")[0][0] == 0
    # Unknown machines too: a token says who you are.
    r = check_in(server, mine, "never-enabled")
    assert r.status_code == 403
    # Legacy path: the old client's error for any token it refuses (livepatch-facts.md
    # section 9); no token at all is 401, as on every path (older clients always send one).
    for token, machine in (("bogus", MACHINE), (mine, OTHER)):
        r = check_in(server, token, machine, legacy=True)
        assert r.status_code == 403
        assert r.json() == {"error": "Invalid Machine Token", "code": "invalid-machine-token"}
    for headers in ({}, {"Authorization": "Bearer "}):
        r = server.request("PUT", f"/api/machine/{MACHINE}", json={"kernel": KERNEL, "architecture": "amd64"},
                           headers=headers)
        assert r.status_code == 401 and r.json()["code"] == "missing-credentials", r.text


def test_check_in_judges_credentials_before_the_body(server):
    """The check-in reads the body before it looks at the token (one statement does
    both when all is well), yet a bad body never reveals more than the credentials
    allow: a bad token with a bad body is still 401/403, and the body's fault is told
    only to the machine's own token."""
    mine = machine_token(server, MACHINE)
    machine_token(server, OTHER)
    bad_bodies = ({"kernel": None}, {"kernel": KERNEL, "architecture": "sparc"}, "not json")
    for body in bad_bodies:
        data = body if isinstance(body, str) else None
        as_json = None if data else {k: v for k, v in body.items() if v is not None}
        for path, token, status, code in ((f"/v1/client/{MACHINE}/updates", None, 401, "missing-credentials"),
                                          (f"/v1/client/{MACHINE}/updates", "bogus", 401, "invalid-token"),
                                          (f"/v1/client/{OTHER}/updates", mine, 403, "machine-mismatch"),
                                          (f"/api/machine/{MACHINE}", "bogus", 403, "invalid-machine-token")):
            method = "PUT" if path.startswith("/api/") else "POST"
            r = server.request(method, path, json=as_json, data=data, headers=bearer(token) if token else {})
            assert (r.status_code, r.json()["code"]) == (status, code), (body, path, r.text)
        r = server.request("POST", f"/v1/client/{MACHINE}/updates", json=as_json, data=data, headers=bearer(mine))
        assert r.status_code == 400, r.text
    assert server.sql("SELECT count(*) FROM machine_reports")[0][0] == 0


def test_url_template_and_host_fallback(make_server):
    templated = make_server(url_template="https://cdn.example/lp/{filename}?from=onprem")
    add_patch(templated, P1)
    r = check_in(templated, machine_token(templated))
    assert r.json()["patches"][0]["url"] == f"https://cdn.example/lp/{P1}?from=onprem"

    plain = make_server(url_template="")
    add_patch(plain, P1)
    r = check_in(plain, machine_token(plain))
    assert r.json()["patches"][0]["url"] == f"{plain.url}/v1/patches/{P1}"


def test_tokens_and_machine_ids_stay_out_of_security_logs(server, caplog):
    caplog.set_level(logging.INFO)
    token = auth_token(server, "secret-check")
    mtoken = enable(server, token).json()["machine-token"]
    enable(server, "11111111-2222-4333-8444-555555555555", OTHER)
    check_in(server, mtoken, OTHER)
    check_in(server, "99999999-2222-4333-8444-555555555555", MACHINE, legacy=True)
    security = [r for r in caplog.records if r.name == "livepatch.security"]
    assert {r.getMessage() for r in security} >= {"client_enable_refused", "client_auth_failed"}
    text = " ".join(str(getattr(r, "fields", "")) + r.getMessage() for r in security)
    for secret in (token, mtoken, "11111111-2222-4333-8444-555555555555", "99999999-2222-4333-8444-555555555555",
                   MACHINE, OTHER):
        assert secret not in text
