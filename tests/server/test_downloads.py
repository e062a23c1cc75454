"""Patch downloads through HTTP: both paths, GET and HEAD, ETag, Range, redirects,
blocked and unknown files, hostile names, metrics and the patch cache."""

import hashlib
import http.client
import json
import os
import time

import pytest

SMALL = {"concurrency_limit": 8, "burst_limit": 4}  # few waitress threads per test server
NAME = "livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2"
DATA = os.urandom(2 * 1024 * 1024 + 12345)  # crosses postgres chunk boundaries
SHA = hashlib.sha256(DATA).hexdigest()


def stored(make_server, **overrides):
    server = make_server(**SMALL, **overrides)
    r = server.admin("PUT", f"/v1/admin/patches/{NAME}", data=DATA)
    assert r.status_code == 201, r.text
    return server


@pytest.fixture(params=["postgres", "filesystem"])
def server(request, make_server, tmp_path):
    return stored(make_server, patchstore=request.param, filestore_path=str(tmp_path / "fs"))


def test_get_and_head(server):
    for path in ("/v1/patches/", "/patches/"):
        r = server.request("GET", path + NAME)
        assert r.status_code == 200
        assert r.content == DATA
        assert r.headers["ETag"] == f'"{SHA}"'
        assert r.headers["Content-Length"] == str(len(DATA))
        assert r.headers["Accept-Ranges"] == "bytes"
        head = server.request("HEAD", path + NAME)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["Content-Length"] == str(len(DATA)) and head.headers["ETag"] == f'"{SHA}"'


def test_if_none_match(server):
    for header in (f'"{SHA}"', f'W/"{SHA}"', f'"other", "{SHA}"', "*"):
        r = server.request("GET", f"/v1/patches/{NAME}", headers={"If-None-Match": header})
        assert r.status_code == 304 and r.content == b"" and r.headers["ETag"] == f'"{SHA}"', header
    r = server.request("GET", f"/v1/patches/{NAME}", headers={"If-None-Match": '"other"'})
    assert r.status_code == 200 and r.content == DATA


RANGES = [
    ("bytes=0-9", 0, 10),
    ("bytes=1048570-1048599", 1048570, 1048600),       # across the first chunk boundary
    ("bytes=2097152-", 2097152, len(DATA)),             # from a chunk start to the end
    ("bytes=-100", len(DATA) - 100, len(DATA)),
    ("bytes=-99999999", 0, len(DATA)),                  # suffix longer than the file
    (f"bytes=100-{len(DATA) + 500}", 100, len(DATA)),   # end past the file is clipped
]


def test_single_range(server):
    for header, start, end in RANGES:
        r = server.request("GET", f"/v1/patches/{NAME}", headers={"Range": header})
        assert r.status_code == 206, header
        assert r.content == DATA[start:end], header
        assert r.headers["Content-Range"] == f"bytes {start}-{end - 1}/{len(DATA)}"
        assert r.headers["Content-Length"] == str(end - start)
        head = server.request("HEAD", f"/v1/patches/{NAME}", headers={"Range": header})
        assert head.status_code == 206 and head.headers["Content-Length"] == str(end - start)


def test_unsatisfiable_and_ignored_ranges(server):
    for header in (f"bytes={len(DATA)}-", f"bytes={len(DATA) + 10}-{len(DATA) + 20}", "bytes=-0"):
        r = server.request("GET", f"/v1/patches/{NAME}", headers={"Range": header})
        assert r.status_code == 416 and r.json()["code"] == "range-not-satisfiable", header
        assert r.headers["Content-Range"] == f"bytes */{len(DATA)}"
    # Several ranges, other units, malformed: the whole file, as RFC 9110 allows.
    for header in ("bytes=0-1,5-9", "items=0-5", "bytes=5-1", "bytes=abc", "bytes=-"):
        r = server.request("GET", f"/v1/patches/{NAME}", headers={"Range": header})
        assert r.status_code == 200 and r.content == DATA, header


def test_if_range(server):
    r = server.request("GET", f"/v1/patches/{NAME}", headers={"Range": "bytes=0-9", "If-Range": f'"{SHA}"'})
    assert r.status_code == 206 and r.content == DATA[:10]
    r = server.request("GET", f"/v1/patches/{NAME}", headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    assert r.status_code == 200 and r.content == DATA


def raw_get(server, path):
    """GET with the path sent exactly as given (no dot-segment clean-up)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.config.port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_unknown_blocked_and_hostile_names(make_server, tmp_path):
    server = stored(make_server, patchstore="filesystem", filestore_path=str(tmp_path / "fs"))
    # A real file beside the store must never be reachable.
    (tmp_path / "secret.txt").write_text("secret")
    other = NAME.replace("107.1", "107.9")
    r = server.request("GET", f"/v1/patches/{other}")
    assert r.status_code == 404 and r.json()["code"] == "patch-not-found"
    assert server.request("HEAD", f"/patches/{other}").status_code == 404
    for bad in ("secret.txt", "..", "..%2Fsecret.txt", "%2E%2E%2Fsecret.txt", "../secret.txt",
                "..%2F..%2Fetc%2Fpasswd", f"{NAME}%00", "%00", f"a%2F{NAME}", f".incoming%2F{NAME}",
                "%2Fetc%2Fpasswd"):
        for prefix in ("/v1/patches/", "/patches/"):
            status, body = raw_get(server, prefix + bad)
            assert status in (400, 404), (prefix, bad, status)
            assert b"secret" not in body and b"root:" not in body
            assert "code" in json.loads(body)
    assert server.request("GET", "/v1/patches/notapatch.tar.bz2").json()["code"] == "invalid-patch-name"

    assert server.admin("POST", f"/v1/admin/patches/{NAME}/block", json={"reason": "x"}).status_code == 200
    for method in ("GET", "HEAD"):
        for prefix in ("/v1/patches/", "/patches/"):
            r = server.request(method, prefix + NAME)
            assert r.status_code == 403, (method, prefix)
    assert server.request("GET", f"/v1/patches/{NAME}").json()["code"] == "patch-blocked"


def test_redirect_downloads(make_server):
    server = stored(make_server, redirect_downloads=True, url_template="https://files.example/p/{filename}")
    for prefix in ("/v1/patches/", "/patches/"):
        r = server.request("GET", prefix + NAME, allow_redirects=False)
        assert r.status_code == 302 and r.headers["Location"] == f"https://files.example/p/{NAME}"
    unknown = server.request("GET", "/v1/patches/" + NAME.replace("107.1", "1.1"), allow_redirects=False)
    assert unknown.status_code == 404
    server.admin("POST", f"/v1/admin/patches/{NAME}/block")
    assert server.request("GET", "/v1/patches/" + NAME, allow_redirects=False).status_code == 403


def test_redirect_to_itself_serves_instead(make_server):
    # The default test url_template points at this server's /v1/patches/{filename}.
    server = stored(make_server, redirect_downloads=True)
    r = server.request("GET", "/v1/patches/" + NAME, allow_redirects=False)
    assert r.status_code == 200 and r.content == DATA
    r = server.request("GET", "/patches/" + NAME, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == f"{server.url}/v1/patches/{NAME}"


def test_download_metrics(make_server):
    server = stored(make_server)
    server.request("GET", f"/v1/patches/{NAME}")
    server.request("GET", f"/v1/patches/{NAME}", headers={"Range": "bytes=0-99"})
    server.request("GET", "/v1/patches/" + NAME.replace("107.1", "1.1"))
    text = server.request("GET", "/metrics").text
    assert 'livepatch_server_patch_downloads_total{status="200"} 1' in text
    assert 'livepatch_server_patch_downloads_total{status="206"} 1' in text
    assert 'livepatch_server_patch_downloads_total{status="404"} 1' in text
    assert f"livepatch_server_patch_download_bytes_total {len(DATA) + 100}" in text


def _metric(server, name):
    for line in server.request("GET", "/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(name)


def test_patch_cache_fills_hits_and_expires(make_server, tmp_path):
    cache = tmp_path / "cache"
    server = stored(make_server, patch_cache_on=True, patch_cache_path=str(cache), patch_cache_ttl="2s")
    assert server.request("GET", f"/v1/patches/{NAME}").content == DATA  # miss, fills
    assert os.listdir(cache) == [SHA]
    assert server.request("GET", f"/v1/patches/{NAME}").content == DATA  # hit
    r = server.request("GET", f"/v1/patches/{NAME}", headers={"Range": "bytes=1048570-1048599"})
    assert r.status_code == 206 and r.content == DATA[1048570:1048600]  # hit, from the file
    assert _metric(server, "livepatch_server_patch_cache_misses") == 1
    assert _metric(server, "livepatch_server_patch_cache_hits") == 2
    time.sleep(2.2)
    assert server.request("GET", f"/v1/patches/{NAME}").content == DATA  # expired: miss, refill
    assert _metric(server, "livepatch_server_patch_cache_misses") == 2
    assert os.listdir(cache) == [SHA]


def test_patch_cache_evicts_least_recently_used(make_server, tmp_path):
    cache = tmp_path / "cache"
    server = make_server(**SMALL, patch_cache_on=True, patch_cache_path=str(cache), patch_cache_size=1)
    blobs = {}
    for i in range(3):
        name = NAME.replace("107.1", f"107.{i + 2}")
        blobs[name] = os.urandom(400 * 1024)
        assert server.admin("PUT", f"/v1/admin/patches/{name}", data=blobs[name]).status_code == 201
    names = list(blobs)
    sha = {n: hashlib.sha256(b).hexdigest() for n, b in blobs.items()}
    for name in names[:2]:
        assert server.request("GET", f"/v1/patches/{name}").content == blobs[name]
    assert server.request("GET", f"/v1/patches/{names[0]}").content == blobs[names[0]]  # names[0] is now fresher
    assert server.request("GET", f"/v1/patches/{names[2]}").content == blobs[names[2]]  # 1.2 MB > 1 MiB: evict
    assert sorted(os.listdir(cache)) == sorted([sha[names[0]], sha[names[2]]])
    # A ranged miss is served from the store and does not fill the cache.
    big = NAME.replace("107.1", "108.1")
    assert server.admin("PUT", f"/v1/admin/patches/{big}", data=b"b" * 1000).status_code == 201
    r = server.request("GET", f"/v1/patches/{big}", headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == b"b" * 10
    assert hashlib.sha256(b"b" * 1000).hexdigest() not in os.listdir(cache)


def test_cache_is_not_used_for_the_filesystem_store(make_server, tmp_path):
    cache = tmp_path / "cache"
    server = stored(make_server, patchstore="filesystem", filestore_path=str(tmp_path / "fs"),
                    patch_cache_on=True, patch_cache_path=str(cache))
    assert server.request("GET", f"/v1/patches/{NAME}").content == DATA
    assert not cache.exists() or os.listdir(cache) == []
    assert _metric(server, "livepatch_server_patch_cache_misses") == 0


@pytest.mark.parametrize("store", ["postgres", "filesystem"])
def test_a_download_from_a_file_holds_no_request_thread(make_server, tmp_path, store):
    """A file (the patch cache, the filesystem store) goes to waitress's file_wrapper,
    which waitress sends from its event loop: a slow reader holds none of the
    concurrency_limit request threads. Here the only one (and one place to wait, for
    the tail of the request before): a second request while the first download is
    still being sent gets its answer, not 503 overloaded."""
    big = os.urandom(24 * 1024 * 1024)  # more than the socket buffers hold
    server = make_server(concurrency_limit=1, burst_limit=1, patchstore=store, filestore_path=str(tmp_path / "fs"),
                         max_upload_size=32)
    assert server.admin("PUT", f"/v1/admin/patches/{NAME}", data=big).status_code == 201
    assert server.request("GET", f"/v1/patches/{NAME}").content == big  # the postgres store fills the cache
    slow = http.client.HTTPConnection("127.0.0.1", server.config.port, timeout=30)
    slow.request("GET", f"/v1/patches/{NAME}")
    response = slow.getresponse()
    first = response.read(64 * 1024)  # then stops reading: the rest waits in waitress
    try:
        for _ in range(3):
            r = server.request("GET", "/v1/api/kernels/supported?kernel-version=5.15&flavour=generic&architecture=amd64")
            assert r.status_code == 200, r.text
        assert first + response.read() == big  # and the slow download completes intact
    finally:
        slow.close()
