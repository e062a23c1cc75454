"""A sync run fetching several files at once (sync/fetch.py) from a fake upstream:
a file that fails does not keep the others from becoming visible, no more than
FETCH_THREADS downloads run at once, verified files commit in batches, and a fatal
error half-way keeps what was verified."""

import hashlib
import os
import threading

import pytest

from livepatch_app.sync import fetch
from test_sync_faults import downstream, fake  # noqa: F401 (fixtures)
from test_sync_faults import held, send_bytes, send_json, trigger


def names(count):
    return [f"livepatch-5.15.0-{100 + n}.1-generic-{100 + n}.1-amd64.tar.bz2" for n in range(count)]


def serve(fake, files, announced=None, route=None):
    """The snapshot offers `files` ({name: bytes}); `announced` overrides a sha256,
    `route(handler, name, data)` replaces the download of every file."""
    announced = announced or {}
    fake.routes["/v1/sync/snapshot"] = lambda h: send_json(h, 200, {"tier": "stable", "blocklist": [], "patches": [
        {"filename": name, "sha256": announced.get(name) or hashlib.sha256(data).hexdigest(), "size": len(data)}
        for name, data in files.items()]})
    for name, data in files.items():
        fake.routes[f"/v1/patches/{name}"] = (lambda h, name=name, data=data: route(h, name, data)) if route \
            else (lambda h, data=data: send_bytes(h, data))


def test_one_bad_file_leaves_the_others_visible(fake, downstream):
    files = {name: os.urandom(3000) for name in names(12)}
    bad = names(12)[5]
    serve(fake, files, announced={bad: hashlib.sha256(b"other").hexdigest()})
    down = downstream(fake.url)
    run = trigger(down)
    assert run["result"] == "failed" and run["patches-added"] == 11
    assert bad in run["error"] and "checksum-mismatch" in run["error"]
    assert sorted(held(down)) == sorted(set(files) - {bad})
    assert down.request("GET", f"/v1/patches/{bad}").status_code == 404
    for name in set(files) - {bad}:
        assert down.request("GET", f"/v1/patches/{name}").content == files[name]
    serve(fake, files)  # fixed upstream: the next run fetches only what is missing
    fetched = len(fake.seen)
    run = trigger(down)
    assert (run["result"], run["patches-added"]) == ("success", 1)
    assert [path for _, path, _ in fake.seen[fetched:] if path.startswith("/v1/patches/")] == [f"/v1/patches/{bad}"]


def test_downloads_run_at_once_but_no_more_than_the_bound(fake, downstream):
    lock, running, most, full = threading.Lock(), [0], [0], threading.Event()

    def slow(handler, name, data):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            if running[0] >= fetch.FETCH_THREADS:
                full.set()
        full.wait(5)  # hold every download until the bound is reached (or 5 s passed)
        with lock:
            running[0] -= 1
        send_bytes(handler, data)

    files = {name: os.urandom(2000) for name in names(3 * fetch.FETCH_THREADS)}
    serve(fake, files, route=slow)
    down = downstream(fake.url)
    run = trigger(down)
    assert (run["result"], run["patches-added"]) == ("success", len(files))
    assert most[0] == fetch.FETCH_THREADS


def test_verified_files_commit_in_batches(fake, downstream, monkeypatch):
    monkeypatch.setattr(fetch, "BATCH_FILES", 4)
    monkeypatch.setattr(fetch, "BATCH_SECONDS", 60.0)  # only full batches, and the rest at the end
    files = {name: os.urandom(1000) for name in names(10)}
    serve(fake, files)
    down = downstream(fake.url)
    run = trigger(down)
    assert (run["result"], run["patches-added"]) == ("success", 10)
    # A transaction's rows share its start time: one per batch.
    sizes = [n for (n,) in down.sql("SELECT count(*) FROM patches GROUP BY created_at ORDER BY 1")]
    assert sizes == [2, 4, 4]


@pytest.mark.parametrize("store", ["postgres", "filesystem"])
def test_a_fatal_error_half_way_keeps_what_was_verified(fake, downstream, store, tmp_path):
    files = {name: os.urandom(4000) for name in names(16)}
    revoked = names(16)[8]

    def download(handler, name, data):
        if name == revoked:
            return send_json(handler, 401, {"error": "the sync token was revoked", "code": "invalid-token"})
        send_bytes(handler, data)

    serve(fake, files, route=download)
    down = downstream(fake.url, patchstore=store, filestore_path=str(tmp_path / "store"))
    run = trigger(down)
    assert run["result"] == "failed" and "rejected the sync token (401)" in run["error"]
    kept = held(down)
    assert revoked not in kept and run["patches-added"] == len(kept) < len(files)
    for name in kept:
        assert down.request("GET", f"/v1/patches/{name}").content == files[name]
    serve(fake, files)
    run = trigger(down)
    assert (run["result"], run["patches-added"]) == ("success", len(files) - len(kept))
    assert sorted(held(down)) == sorted(files)
