"""Sync against upstreams that misbehave: a tiny fake upstream in the test serves
wrong checksums, cuts transfers, stalls, answers errors or garbage. The
downstream is always a real server; after every fault it holds nothing it could
not verify, and the next run completes."""

import hashlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from livetest import free_port, sessions_named, wait_for
from livepatch_app.sync.client import UpstreamClient, UpstreamError

NAME = "livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2"
TOKEN = "0b7e6f0e-4a8e-4e53-9f0e-6a1f4a2d9c11"


class FakeUpstream:
    """routes: path -> function(handler); every request is recorded."""

    def __init__(self):
        self.routes = {}
        self.seen = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _dispatch(self):
                path = urlsplit(self.path).path  # also absolute URIs, as a proxy receives them
                fake.seen.append((self.command, self.path, self.headers.get("Authorization")))
                route = fake.routes.get(path)
                if route is None:
                    return send_json(self, 404, {"error": "no such thing", "code": "not-found"})
                return route(self)

            do_GET = do_POST = _dispatch

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        # A downstream that gives up (timeout, size check) closes on us: not news.
        self.httpd.handle_error = lambda request, address: None
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def serve_patch(self, filename, data, announced_sha256=None, announced_size=None, cut_at=None):
        self.routes["/v1/sync/snapshot"] = lambda h: send_json(h, 200, {"tier": "stable", "blocklist": [], "patches": [{
            "filename": filename, "version": "107.1", "kernel": "5.15.0-107.117", "flavour": "generic",
            "architecture": "amd64", "tiers": ["stable"],
            "sha256": announced_sha256 or hashlib.sha256(data).hexdigest(),
            "size": len(data) if announced_size is None else announced_size}]})
        self.routes[f"/v1/patches/{filename}"] = lambda h: send_bytes(h, data, cut_at)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def send_json(handler, status, body):
    send_raw(handler, status, json.dumps(body).encode(), "application/json")


def send_raw(handler, status, payload, content_type="text/html"):
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


def send_bytes(handler, data, cut_at=None):
    handler.send_response(200)
    handler.send_header("Content-Type", "application/octet-stream")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    if cut_at is None:
        handler.wfile.write(data)
        return
    # Half the bytes, then the connection dies.
    handler.wfile.write(data[:cut_at])
    handler.wfile.flush()
    handler.close_connection = True
    handler.connection.shutdown(2)


@pytest.fixture
def fake():
    upstream = FakeUpstream()
    yield upstream
    upstream.close()


@pytest.fixture
def downstream(make_server):
    def make(upstream_url, **config):
        return make_server(patch_sync_enabled=True,
                           sync_upstream=upstream_url, sync_token=TOKEN, **config)

    return make


def trigger(server):
    r = server.admin("POST", "/v1/admin/sync/trigger", json={"wait": True})
    assert r.status_code == 200, r.text
    return r.json()


def lock_waiters(dsn):
    """Sessions that hold or poll the sync run lock (RunLock's own connections)."""
    return sessions_named(dsn, "livepatch-sync")


def held(server):
    return [p["filename"] for p in server.admin("GET", "/v1/admin/patches").json()["patches"]]


def test_wrong_checksum_is_rejected_and_nothing_is_visible(fake, downstream):
    data = os.urandom(5000)
    fake.serve_patch(NAME, data, announced_sha256=hashlib.sha256(b"other bytes").hexdigest())
    down = downstream(fake.url)
    run = trigger(down)
    assert run["result"] == "failed" and run["patches-added"] == 0
    assert NAME in run["error"] and "checksum-mismatch" in run["error"]
    assert held(down) == []
    assert down.request("GET", f"/v1/patches/{NAME}").status_code == 404
    # The upstream fixed: the next run takes the file.
    fake.serve_patch(NAME, data)
    run = trigger(down)
    assert (run["result"], run["patches-added"], run["bytes"]) == ("success", 1, len(data))
    assert down.request("GET", f"/v1/patches/{NAME}").content == data
    # The downstream presented its sync token to the upstream, for the snapshot and the file.
    assert {auth for _, _, auth in fake.seen} == {f"Bearer {TOKEN}"}


def test_more_bytes_than_announced_are_refused(fake, downstream):
    data = os.urandom(5000)
    fake.serve_patch(NAME, data, announced_size=4000)
    down = downstream(fake.url)
    run = trigger(down)
    assert run["result"] == "failed" and held(down) == []


@pytest.mark.parametrize("store", ["postgres", "filesystem"])
def test_transfer_cut_half_way_leaves_nothing_and_next_run_completes(fake, downstream, store, tmp_path):
    data = os.urandom(200_000)
    fake.serve_patch(NAME, data, cut_at=100_000)
    store_dir = tmp_path / "down-store"
    down = downstream(fake.url, patchstore=store, filestore_path=str(store_dir))
    run = trigger(down)
    assert run["result"] == "failed" and run["patches-added"] == 0
    assert "cut after" in run["error"] and NAME in run["error"]
    assert run["bytes"] <= 100_000
    assert held(down) == [] and down.request("GET", f"/v1/patches/{NAME}").status_code == 404
    if store == "filesystem":  # no half file left anywhere in the store
        leftovers = [p for p in store_dir.rglob("*") if p.is_file()]
        assert leftovers == []
    fake.serve_patch(NAME, data)
    run = trigger(down)
    assert (run["result"], run["patches-added"], run["bytes"]) == ("success", 1, len(data))
    assert down.request("GET", f"/v1/patches/{NAME}").content == data


@pytest.mark.parametrize("reply,expected", [
    (lambda h: send_json(h, 401, {"error": "unknown sync token", "code": "invalid-token"}),
     "rejected the sync token (401): unknown sync token"),
    (lambda h: send_json(h, 403, {"error": "not for you", "code": "forbidden"}), "refused access (403): not for you"),
    (lambda h: send_json(h, 500, {"error": "boom", "code": "internal-error"}), "HTTP 500"),
    (lambda h: send_raw(h, 404, b"no"), "HTTP 404; is http://127.0.0.1"),
    (lambda h: send_raw(h, 200, b"<html>a captive portal</html>"), "did not answer JSON"),
    (lambda h: send_json(h, 200, {"patches": "all of them"}), "malformed"),
    (lambda h: send_json(h, 200, {"patches": [{"filename": NAME, "sha256": "zz", "size": 1}]}), "no valid sha256"),
])
def test_upstream_errors_are_reported_clearly(fake, downstream, reply, expected):
    fake.routes["/v1/sync/snapshot"] = reply
    down = downstream(fake.url)
    run = trigger(down)
    assert run["result"] == "failed" and expected in run["error"], run["error"]
    assert TOKEN not in run["error"]


def test_unreachable_upstream(downstream):
    down = downstream(f"http://127.0.0.1:{free_port()}")
    run = trigger(down)
    assert run["result"] == "failed" and "cannot reach upstream" in run["error"]


def test_bad_names_from_upstream_are_refused(fake, downstream):
    data = os.urandom(100)
    fake.serve_patch("../../etc/passwd", data)
    down = downstream(fake.url)
    run = trigger(down)
    assert run["result"] == "failed" and "not a patch file name" in run["error"]
    assert [m for m, p, _ in fake.seen if "passwd" in p] == []  # never asked for it


def test_timeout_is_reported(fake):
    release = threading.Event()
    fake.routes["/v1/sync/snapshot"] = lambda h: (release.wait(5), send_json(h, 200, {"patches": []}))
    client = UpstreamClient(fake.url, TOKEN, timeout=(2, 0.5))
    try:
        with pytest.raises(UpstreamError) as caught:
            client.snapshot()
    finally:
        release.set()
        client.close()
    assert "timeout" in caught.value.message and TOKEN not in caught.value.message


def test_one_run_at_a_time_across_units(fake, downstream, make_database):
    release, asked = threading.Event(), threading.Event()

    def slow_snapshot(handler):
        asked.set()
        release.wait(10)
        send_json(handler, 200, {"patches": [], "blocklist": []})

    fake.routes["/v1/sync/snapshot"] = slow_snapshot
    dsn = make_database()
    unit_a = downstream(fake.url, database_url=dsn, leader=True)
    unit_b = downstream(fake.url, database_url=dsn, leader=False)
    r = unit_a.admin("POST", "/v1/admin/sync/trigger", json={"wait": False})
    assert r.status_code == 202
    assert asked.wait(10)
    for unit in (unit_a, unit_b):
        busy = unit.admin("POST", "/v1/admin/sync/trigger", json={"wait": False})
        assert busy.status_code == 409 and busy.json()["code"] == "sync-running"
    assert unit_b.request("GET", "/debug/status").json()["sync"]["status"] == "running"
    # A waiting trigger on the other unit runs once the first run is over.
    waited = []
    waiter = threading.Thread(target=lambda: waited.append(trigger(unit_b)))
    waiter.start()
    wait_for(lambda: lock_waiters(dsn) == 2, what="unit_b's trigger waiting on the run lock")
    release.set()
    waiter.join(30)
    runs = unit_a.admin("GET", "/v1/admin/sync/reports").json()["runs"]
    assert [r["result"] for r in runs] == ["success", "success"]
    assert waited[0]["id"] == runs[0]["id"] and runs[1]["finished"] <= runs[0]["started"]


def test_proxy_settings_are_used(fake, downstream):
    fake.routes["/v1/sync/snapshot"] = lambda h: send_json(h, 200, {"patches": [], "blocklist": []})
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens: only the proxy can answer
    proxied = downstream(nowhere, http_proxy=fake.url)
    assert trigger(proxied)["result"] == "success"
    method, path, auth = fake.seen[-1]
    assert path.startswith(f"{nowhere}/v1/sync/snapshot?") and "flavours=generic%2Clowlatency%2Caws" in path
    assert auth == f"Bearer {TOKEN}"
    bypassed = downstream(nowhere, http_proxy=fake.url, no_proxy="localhost,127.0.0.0/8")
    seen = len(fake.seen)
    run = trigger(bypassed)
    assert run["result"] == "failed" and "cannot reach upstream" in run["error"]
    assert len(fake.seen) == seen


def test_no_proxy_matching():
    from livepatch_app.sync.proxies import proxies_for

    proxy = {"http_proxy": "http://proxy:3128", "https_proxy": "http://proxy:3128"}
    assert proxies_for("https://livepatch.canonical.com") == {}
    assert proxies_for("https://livepatch.canonical.com", **proxy) == {"http": "http://proxy:3128",
                                                                      "https": "http://proxy:3128"}
    direct = {"http": None, "https": None}
    for no_proxy in ("canonical.com", ".canonical.com", "livepatch.canonical.com:443", "*", "x, canonical.com"):
        assert proxies_for("https://livepatch.canonical.com", **proxy, no_proxy=no_proxy) == direct, no_proxy
    for no_proxy in ("ical.com", "livepatch.canonical.com:80", "10.0.0.0/8"):
        assert proxies_for("https://livepatch.canonical.com", **proxy, no_proxy=no_proxy) != direct, no_proxy
    assert proxies_for("http://10.1.2.3:8080", **proxy, no_proxy="10.0.0.0/8") == direct


def redirect(handler, location):
    handler.send_response(302)
    handler.send_header("Location", location)
    handler.send_header("Content-Length", "0")
    handler.end_headers()


def read_download(client, filename):
    response = client.download(filename)
    try:
        return response.read()
    finally:
        client.release(response)


def test_downloads_follow_redirects_and_keep_the_token_on_the_same_host_only(fake):
    data = os.urandom(5000)
    fake.routes[f"/v1/patches/{NAME}"] = lambda h: redirect(h, f"/mirror/{NAME}")
    fake.routes[f"/mirror/{NAME}"] = lambda h: send_bytes(h, data)
    fake.routes["/v1/patches/other.tar.bz2"] = lambda h: redirect(
        h, f"http://localhost:{fake.httpd.server_port}/mirror/{NAME}")  # another host name
    client = UpstreamClient(fake.url, TOKEN)
    try:
        assert read_download(client, NAME) == data
        assert fake.seen[-1] == ("GET", f"/mirror/{NAME}", f"Bearer {TOKEN}")
        assert read_download(client, "other.tar.bz2") == data
        assert fake.seen[-1] == ("GET", f"/mirror/{NAME}", None)
    finally:
        client.close()


def test_downloads_go_through_the_configured_proxy(fake):
    data = os.urandom(5000)
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens: only the proxy can answer
    fake.routes[f"/v1/patches/{NAME}"] = lambda h: send_bytes(h, data)
    client = UpstreamClient(nowhere, TOKEN, http_proxy=fake.url)
    try:
        assert read_download(client, NAME) == data
        assert fake.seen[-1] == ("GET", f"{nowhere}/v1/patches/{NAME}", f"Bearer {TOKEN}")
    finally:
        client.close()
    bypassed = UpstreamClient(nowhere, TOKEN, http_proxy=fake.url, no_proxy="127.0.0.0/8")
    try:
        with pytest.raises(UpstreamError) as caught:
            bypassed.download(NAME)
    finally:
        bypassed.close()
    assert "cannot reach upstream" in caught.value.message and not caught.value.fatal


@pytest.mark.parametrize("status, fatal, words", [
    (404, False, "upstream answered HTTP 404: no such patch (not-found)"),
    (401, True, "upstream rejected the sync token (401): no such patch (not-found); it may be expired, "
                "revoked or mistyped: set a valid sync_token"),
    (403, True, "upstream refused access (403): no such patch (not-found)"),
])
def test_download_errors_say_what_the_upstream_said(fake, status, fatal, words):
    fake.routes[f"/v1/patches/{NAME}"] = lambda h: send_json(h, status, {"error": "no such patch",
                                                                         "code": "not-found"})
    client = UpstreamClient(fake.url, TOKEN)
    try:
        with pytest.raises(UpstreamError) as caught:
            client.download(NAME)
    finally:
        client.close()
    assert caught.value.message == f"downloading {NAME}: {words}" and caught.value.fatal is fatal
    assert TOKEN not in caught.value.message


def test_a_stalled_download_times_out(fake):
    release = threading.Event()
    fake.routes[f"/v1/patches/{NAME}"] = lambda h: (release.wait(5), send_bytes(h, b"x"))
    client = UpstreamClient(fake.url, TOKEN, timeout=(2, 0.5))
    try:
        with pytest.raises(UpstreamError) as caught:
            client.download(NAME)
    finally:
        release.set()
        client.close()
    assert "timeout" in caught.value.message and not caught.value.fatal
