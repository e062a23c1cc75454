"""Operational endpoints, admin login/logout, OpenAPI coverage, overload limits."""

import re
import threading
import time

import requests

from livepatch_app.context import services
from livetest import ADMIN_PASSWORD, ADMIN_USER, wait_for


def test_banner_info_status_metrics(server):
    r = server.request("GET", "/")
    assert r.status_code == 200 and r.text.startswith("Livepatch server ")
    info = server.request("GET", "/debug/info").json()
    assert info["schema-version"] >= 1 and "version" in info and info["leader"] is True
    status = server.request("GET", "/debug/status")
    assert status.status_code == 200
    body = status.json()
    assert body["database"] == "OK" and body["schema"]["upgrade-required"] is False
    assert "sync" in body and "contracts" in body
    metrics = server.request("GET", "/metrics")
    assert metrics.status_code == 200
    assert "livepatch_server_http_request_duration_seconds_bucket" in metrics.text
    assert 'handler="/debug/status"' in metrics.text


def test_unknown_route_and_method_are_json(server):
    r = server.request("GET", "/v1/nothing-here")
    assert r.status_code == 404 and r.json()["code"] == "not-found"
    r = server.request("DELETE", "/debug/status")
    assert r.status_code == 405 and r.json()["code"] == "method-not-allowed"


def test_login_logout_cycle(server):
    r = server.request("POST", "/v1/admin/login", auth=(ADMIN_USER, ADMIN_PASSWORD))
    assert r.status_code == 200
    token = r.json()["token"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", r.json()["expires"])
    headers = {"Authorization": f"Bearer {token}"}
    # The token works on admin endpoints, and so does Basic directly.
    assert server.request("POST", "/v1/admin/logout", headers=headers).status_code == 200
    again = server.request("POST", "/v1/admin/logout", headers=headers)
    assert again.status_code == 401 and again.json()["code"] == "invalid-token"


def test_logout_without_a_session_token_is_401(server):
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic YWRtaW46eA=="}):
        r = server.request("POST", "/v1/admin/logout", headers=headers)
        assert r.status_code == 401 and r.json()["code"] == "missing-credentials", (headers, r.text)
        assert r.headers["WWW-Authenticate"] == 'Bearer realm="livepatch"'


def test_login_rejects_bad_credentials(server):
    r = server.request("POST", "/v1/admin/login", auth=(ADMIN_USER, "wrong"))
    assert r.status_code == 401 and r.json()["code"] == "invalid-credentials"
    r = server.request("POST", "/v1/admin/login", auth=("nobody", "x"))
    assert r.status_code == 401
    r = server.request("POST", "/v1/admin/login")
    assert r.status_code == 401 and r.json()["code"] == "missing-credentials"
    r = server.request("POST", "/v1/admin/login", headers={"Authorization": "Basic !!notbase64"})
    assert r.status_code == 401 and r.json()["code"] == "invalid-credentials"
    r = server.request("POST", "/v1/admin/login", auth=(ADMIN_USER, "x" * 100))
    assert r.status_code == 401


def test_unknown_user_names_cost_what_the_configured_users_cost(make_server, monkeypatch):
    """Compared by the bcrypt cost each check uses, not by timing."""
    import bcrypt

    from livepatch_app import auth_users
    from livepatch_app.auth_users import hash_password

    server = make_server(auth_basic_users=f"{ADMIN_USER}:{hash_password(ADMIN_PASSWORD, rounds=5)}")
    checked = []
    real = bcrypt.checkpw
    monkeypatch.setattr(auth_users.bcrypt, "checkpw", lambda pw, hashed: checked.append(hashed) or real(pw, hashed))
    for user in ("nobody", ADMIN_USER):
        r = server.request("POST", "/v1/admin/login", auth=(user, "wrong"))
        assert r.status_code == 401 and r.json()["code"] == "invalid-credentials"
    assert [hashed.split(b"$")[2] for hashed in checked] == [b"05", b"05"]


def test_schema_behind_closes_api_but_not_ops(make_server, make_database):
    from livepatch_app import schema

    server = make_server(migrate=False)
    status = server.request("GET", "/debug/status")
    assert status.status_code == 503
    assert status.json()["schema"]["upgrade-required"] is True
    r = server.request("POST", "/v1/admin/login", auth=(ADMIN_USER, ADMIN_PASSWORD))
    assert r.status_code == 503 and r.json()["code"] == "schema-upgrade-required"
    # A check-in too (test_check_in_lane.py has one with a valid machine token).
    r = server.request("POST", "/v1/client/0123456789abcdef/updates", headers={"Authorization": "Bearer x"},
                       json={"kernel": "5.15.0-107.117-generic", "architecture": "amd64"})
    assert r.status_code == 503 and r.json()["code"] == "schema-upgrade-required"
    schema.upgrade(server.config.database_url)
    services(server.app).schema_gate.forget()
    assert server.request("GET", "/debug/status").status_code == 200


def test_database_down_is_503(make_server):
    server = make_server(database_url="host=127.0.0.1 port=1 dbname=x user=x password=hunter2 connect_timeout=1")
    r = server.request("GET", "/debug/status")
    assert r.status_code == 503 and r.json()["database"] == "unreachable"
    r = server.request("POST", "/v1/admin/logout", headers={"Authorization": "Bearer x"})
    assert r.status_code == 503 and r.json()["code"] == "database-unavailable"
    assert "hunter2" not in r.text
    r = server.request("POST", "/v1/client/0123456789abcdef/updates", headers={"Authorization": "Bearer x"},
                       json={"kernel": "5.15.0-107.117-generic", "architecture": "amd64"})
    assert r.status_code == 503 and r.json()["code"] == "database-unavailable"


def test_openapi_lists_exactly_the_routes(server):
    doc = server.request("GET", "/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    documented = set()
    for path, operations in doc["paths"].items():
        for method in operations:
            documented.add((method.upper(), path))
    served = set()
    for rule in server.app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith("console."):  # HTML pages: docs/console.md
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((method, path))
    assert served - documented == set(), "routes missing from the OpenAPI document"
    assert documented - served == set(), "OpenAPI names routes that do not exist"


def test_overload_answers_503_with_retry_after(make_server):
    release = threading.Event()
    entered = threading.Event()

    def add_slow_route(app):
        @app.route("/test-slow")  # a slow view, only to hold the one slot
        def slow():
            entered.set()
            release.wait(10)
            return "done"

    server = make_server(concurrency_limit=1, burst_limit=0, prepare=add_slow_route)

    results = []
    holder = threading.Thread(target=lambda: results.append(requests.get(server.url + "/test-slow", timeout=20)))
    holder.start()
    assert entered.wait(10)
    refused = requests.get(server.url + "/", timeout=5)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["code"] == "overloaded"
    release.set()
    holder.join()
    assert results[0].status_code == 200
    # The thread is free once waitress has sent the response, just after the client has it:
    # a request sent before that (the /metrics one too) is refused as well, and counted.
    refused = [1]

    def metrics_once_free():
        answer = requests.get(server.url + "/metrics", timeout=5)
        refused[0] += answer.status_code == 503
        return answer.text if answer.status_code == 200 else None

    metrics = wait_for(metrics_once_free, what="the thread to be free")
    assert f"livepatch_server_httpgovernor_request_overload {refused[0]}\n" in metrics


def test_waitress_level_errors_are_json(make_server):
    server = make_server(max_upload_size=1)
    import socket

    # Far over the limit with a declared length: waitress refuses before the app runs.
    with socket.create_connection(("127.0.0.1", server.config.port), timeout=10) as sock:
        sock.sendall(b"PUT /v1/admin/patches/livepatch-5.15.0-1.1-generic-1.1-amd64.tar.bz2 HTTP/1.1\r\n"
                     b"Host: x\r\nContent-Length: 104857600\r\n\r\n")
        received = b""
        while True:  # waitress closes the connection after its error answer
            data = sock.recv(65536)
            if not data:
                break
            received += data
        answer = received.decode()
    head, _, body = answer.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 413")
    assert "application/json" in head
    import json as _json

    assert _json.loads(body)["code"] == "upload-too-large"


def test_burst_waits_without_threads_and_the_rest_is_refused_at_once(make_server):
    """concurrency_limit threads run requests; burst_limit more wait in waitress's queue
    holding no thread; the next is refused 503 at once (limits.BoundedDispatcher)."""
    release = threading.Event()
    entered = threading.Event()

    def add_slow_route(app):
        @app.route("/test-slow")
        def slow():
            entered.set()
            release.wait(10)
            return "done"

    server = make_server(concurrency_limit=1, burst_limit=2, prepare=add_slow_route)
    dispatcher = server.server.task_dispatcher
    assert len(dispatcher.threads) == 1  # the thread count follows concurrency_limit, not the burst
    results = {}

    def get(name, path):
        results[name] = requests.get(server.url + path, timeout=20)

    holder = threading.Thread(target=get, args=("slow", "/test-slow"))
    holder.start()
    assert entered.wait(10)
    waiting = [threading.Thread(target=get, args=(f"wait{n}", "/")) for n in range(2)]
    for thread in waiting:
        thread.start()
    wait_for(lambda: len(dispatcher.queue) == 2, what="two requests queued")
    started = time.monotonic()
    refused = requests.get(server.url + "/", timeout=5)
    assert refused.status_code == 503 and refused.json()["code"] == "overloaded", refused.text
    assert refused.headers["Retry-After"] == "1" and time.monotonic() - started < 2
    release.set()
    for thread in [holder, *waiting]:
        thread.join(20)
    assert {name: r.status_code for name, r in results.items()} == {"slow": 200, "wait0": 200, "wait1": 200}
