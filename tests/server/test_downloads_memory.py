"""Downloads stream: serving a 100 MB patch grows the server process's memory by
far less than the file. The real server runs as its own process
(`python -m livepatch_app serve`, configured by environment), so its peak
resident memory (VmHWM, reset just before the download) is its alone."""

import hashlib
import os

import pytest
import requests

from livetest import ADMIN_PASSWORD, ADMIN_USER, PeakMemory

SIZE_MB = 100
LIMIT_MB = 30
NAME = "livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2"


def _payload():
    block = os.urandom(1024 * 1024)
    for i in range(SIZE_MB):
        yield i.to_bytes(4, "big") + block[4:]


@pytest.mark.parametrize("store", ["postgres", "filesystem"])
def test_a_100_mb_download_does_not_grow_memory(serve_process, store):
    process, url = serve_process(patchstore=store, max_upload_size=SIZE_MB + 10)
    auth = (ADMIN_USER, ADMIN_PASSWORD)
    expected = hashlib.sha256()
    uploaded = requests.put(f"{url}/v1/admin/patches/{NAME}", auth=auth, timeout=120,
                            data=(expected.update(c) or c for c in _payload()))
    assert uploaded.status_code == 201, uploaded.text
    # Warm up (imports, pools, first allocations) with a small ranged read.
    assert requests.get(f"{url}/v1/patches/{NAME}", headers={"Range": "bytes=0-9"}, timeout=30).status_code == 206

    got, size = hashlib.sha256(), 0
    with PeakMemory(process.pid) as memory:
        with requests.get(f"{url}/v1/patches/{NAME}", stream=True, timeout=120) as response:
            assert response.status_code == 200
            assert int(response.headers["Content-Length"]) == SIZE_MB * 1024 * 1024
            for chunk in response.iter_content(256 * 1024):
                got.update(chunk)
                size += len(chunk)
    before, peak = memory.before, memory.peak
    assert size == SIZE_MB * 1024 * 1024 and got.hexdigest() == expected.hexdigest()
    grown = peak - before
    print(f"{store}: RSS before {before} MiB, peak during the download {peak} MiB (+{grown} MiB)")
    assert grown < LIMIT_MB, f"serving {SIZE_MB} MB grew the server by {grown} MiB"
