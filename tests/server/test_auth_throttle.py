"""Failed credentials are throttled: admin logins and Basic credentials per source address and
per user name, bad client tokens per source address; 429 too-many-attempts with Retry-After,
no bcrypt work while throttled, a security log line without the password, and a success
that resets. Sources other than 127.0.0.1 come through X-Forwarded-For from a trusted proxy
(the test client plays haproxy)."""

import logging
import time

import pytest

from livepatch_app import auth_users
from livetest import ADMIN_PASSWORD, ADMIN_USER, wait_for

WRONG = "not-the-password-42"
LOGIN = "/v1/admin/login"


@pytest.fixture
def bcrypt_calls(monkeypatch):
    """Counts the bcrypt checks the server (in this process) makes."""
    calls = []
    real = auth_users.bcrypt.checkpw

    def counted(secret, hashed):
        calls.append(1)
        return real(secret, hashed)

    monkeypatch.setattr(auth_users.bcrypt, "checkpw", counted)
    return calls


@pytest.fixture
def proxied(make_server):
    return make_server(trusted_proxies="127.0.0.1")


def login(server, password=WRONG, user=ADMIN_USER, source=None):
    headers = {"X-Forwarded-For": source} if source else {}
    return server.request("POST", LOGIN, auth=(user, password), headers=headers)


def wait_out(response):
    """Sleeps for the Retry-After of a 429."""
    time.sleep(int(response.headers["Retry-After"]) + 0.05)


def assert_throttled(response):
    assert response.status_code == 429, response.text
    assert response.json()["code"] == "too-many-attempts"
    retry = int(response.headers["Retry-After"])
    assert 1 <= retry <= 300
    return retry


def test_wrong_logins_from_one_source_get_429_without_bcrypt(server, bcrypt_calls, caplog):
    caplog.set_level(logging.INFO)
    answers = [login(server) for _ in range(5)]
    assert [r.status_code for r in answers] == [401] * 5
    assert len(bcrypt_calls) == 5
    flood = [login(server) for _ in range(30)]
    throttled = [r for r in flood if r.status_code == 429]
    assert len(throttled) >= 25
    for r in throttled:
        assert_throttled(r)
    # Only the odd probe after a block expired cost bcrypt work.
    assert len(bcrypt_calls) == 5 + sum(r.status_code == 401 for r in flood)
    # The right password too waits: the source is throttled, not the guess.
    before = len(bcrypt_calls)
    last = login(server, ADMIN_PASSWORD)
    assert_throttled(last)
    assert len(bcrypt_calls) == before

    events = [r.fields for r in caplog.records if r.name == "livepatch.security"
              and r.getMessage() == "auth_throttled"]
    assert events and all(e["user"] == ADMIN_USER and e["source"] == "127.0.0.1" for e in events)
    assert events[0]["retry_after"] >= 1 and events[0]["path"] == LOGIN
    logged = " ".join(r.getMessage() + str(getattr(r, "fields", "")) for r in caplog.records)
    assert WRONG not in logged and ADMIN_PASSWORD not in logged


def test_backoff_is_bounded_and_a_success_resets(server):
    for _ in range(5):
        login(server)
    refused = login(server, ADMIN_PASSWORD)
    assert assert_throttled(refused) == 1  # the first block is short
    wait_out(refused)
    assert login(server, ADMIN_PASSWORD).status_code == 200
    # Reset: the next wrong password is a plain 401 again, and so are four more.
    assert [login(server).status_code for _ in range(5)] == [401] * 5


def test_basic_credentials_on_admin_routes_are_throttled(server, bcrypt_calls):
    for _ in range(5):
        r = server.request("GET", "/v1/admin/tiers", auth=(ADMIN_USER, WRONG))
        assert r.status_code == 401 and r.json()["code"] == "invalid-credentials"
    r = server.request("GET", "/v1/admin/tiers", auth=(ADMIN_USER, ADMIN_PASSWORD))
    assert_throttled(r)
    assert len(bcrypt_calls) == 5
    # Bad session tokens count for the source as well.
    wait_out(r)
    assert server.admin("GET", "/v1/admin/tiers").status_code == 200
    for _ in range(5):
        r = server.request("GET", "/v1/admin/tiers", headers={"Authorization": "Bearer not-a-session"})
        assert r.status_code == 401 and r.json()["code"] == "invalid-token"
    assert_throttled(server.admin("GET", "/v1/admin/tiers"))


def test_a_source_is_throttled_whatever_user_name_it_tries(proxied, bcrypt_calls):
    for n in range(5):
        assert login(proxied, user=f"guess{n}", source="203.0.113.50").status_code == 401
    assert_throttled(login(proxied, user="someone-new", source="203.0.113.50"))
    assert len(bcrypt_calls) == 5  # unknown names are checked against a dummy hash: as costly
    # Other sources are not held.
    assert login(proxied, ADMIN_PASSWORD, source="198.51.100.10").status_code == 200


def test_an_attacker_elsewhere_cannot_lock_out_the_admin(proxied):
    """Guesses at the admin's name from many addresses trip the per-user limit, which is
    short, and does not hold a source that logged in as that user before."""
    assert login(proxied, ADMIN_PASSWORD, source="198.51.100.10").status_code == 200  # the admin's desk
    for n in range(4):
        for _ in range(3):  # under each source's own limit
            login(proxied, source=f"203.0.113.{n}")
    refused = login(proxied, ADMIN_PASSWORD, source="198.51.100.77")  # a new address
    assert assert_throttled(refused) <= 30
    assert login(proxied, ADMIN_PASSWORD, source="198.51.100.10").status_code == 200


# --- client tokens -------------------------------------------------------------------------

MACHINE = "0123456789abcdef0123456789abcdef"


def auth_token(server):
    r = server.admin("POST", "/v1/admin/auth-token", json={"id": "fleet", "tier": "edge"})
    assert r.status_code == 200, r.text
    return r.json()["token"]


def enable(server, token, source=None, machine=MACHINE):
    headers = {"Authorization": f"Bearer {token}"}
    if source:
        headers["X-Forwarded-For"] = source
    return server.request("PUT", f"/v1/client/{machine}", headers=headers)


def check_in(server, token, source=None, legacy=False):
    headers = {"Authorization": f"Bearer {token}"}
    if source:
        headers["X-Forwarded-For"] = source
    path = f"/api/machine/{MACHINE}" if legacy else f"/v1/client/{MACHINE}/updates"
    return server.request("PUT" if legacy else "POST", path, headers=headers,
                          json={"kernel": "5.15.0-107.117-generic", "architecture": "amd64"})


def test_bad_client_tokens_from_one_source_are_throttled(proxied, caplog):
    caplog.set_level(logging.INFO)
    token = auth_token(proxied)
    machine_token = enable(proxied, token).json()["machine-token"]
    source = "203.0.113.9"
    codes = []
    for n in range(20):  # bad auth tokens and bad machine tokens count together
        if n % 2:
            codes.append(enable(proxied, f"bogus-auth-{n}", source).status_code)
        else:
            codes.append(check_in(proxied, f"bogus-machine-{n}", source, legacy=n % 4 == 0).status_code)
    assert set(codes) == {401, 403}
    for r in (enable(proxied, token, source), check_in(proxied, machine_token, source),
              check_in(proxied, machine_token, source, legacy=True),
              proxied.request("GET", f"/v1/client/{MACHINE}/info",
                              headers={"Authorization": f"Bearer {machine_token}", "X-Forwarded-For": source})):
        assert_throttled(r)
    # The rest of the fleet is not held.
    assert check_in(proxied, machine_token, "198.51.100.3").status_code == 200
    events = [r.fields for r in caplog.records if r.getMessage() == "auth_throttled"]
    assert events and {e["scope"] for e in events} == {"client"} and {e["source"] for e in events} == {source}
    logged = " ".join(str(getattr(r, "fields", "")) for r in caplog.records)
    assert "bogus-" not in logged and machine_token not in logged and MACHINE not in logged

    # After the block a good token works, and resets the source.
    wait_for(lambda: check_in(proxied, machine_token, source).status_code == 200, timeout=5,
             what="the block to end")
    assert check_in(proxied, "bogus-again", source).status_code == 401


def test_bad_sync_tokens_from_one_source_are_throttled(proxied):
    """A downstream guessing sync tokens is braked like a client guessing tokens: the
    client counter of its source (the real downstream elsewhere keeps syncing)."""
    r = proxied.admin("POST", "/v1/admin/sync-tokens", json={"name": "downstream", "tier": "stable"})
    assert r.status_code == 200, r.text
    good = r.json()["token"]
    source = "203.0.113.77"

    def snapshot(token, source):
        return proxied.request("GET", "/v1/sync/snapshot",
                               headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": source})

    codes = {snapshot(f"00000000-0000-4000-8000-{n:012d}", source).status_code for n in range(20)}
    assert codes == {401}
    assert_throttled(snapshot(good, source))
    assert_throttled(proxied.request("POST", "/v1/sync/report", json={"deployment-id": "d1", "machine-count": 1},
                                     headers={"Authorization": f"Bearer {good}", "X-Forwarded-For": source}))
    assert snapshot(good, "198.51.100.4").status_code == 200
