"""SIGTERM drains the real `python -m livepatch_app serve` process: it stops accepting
connections at once, lets requests in flight (a download to a slow reader) finish within
`shutdown_drain_timeout`, then exits 0; past the timeout it exits anyway and logs how
many requests it cut."""

import hashlib
import json
import os
import signal
import threading
import time

import pytest
import requests

from livetest import ADMIN_PASSWORD, ADMIN_USER, wait_for

SIZE_MB = 32  # more than waitress buffers (16 MiB) plus the sockets' buffers hold
NAME = "livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2"


def upload(url):
    block = os.urandom(1024 * 1024)
    chunks = [i.to_bytes(4, "big") + block[4:] for i in range(SIZE_MB)]
    r = requests.put(f"{url}/v1/admin/patches/{NAME}", data=iter(chunks), auth=(ADMIN_USER, ADMIN_PASSWORD),
                     timeout=120)
    assert r.status_code == 201, r.text
    return hashlib.sha256(b"".join(chunks)).hexdigest()


class SlowReader(threading.Thread):
    """Downloads the patch `chunk` bytes every `pause` seconds."""

    def __init__(self, url, chunk, pause):
        super().__init__(daemon=True)
        self.url, self.chunk, self.pause = url, chunk, pause
        self.received, self.digest, self.error, self.status = 0, hashlib.sha256(), None, None

    def run(self):
        try:
            with requests.get(f"{self.url}/v1/patches/{NAME}", stream=True, timeout=60) as response:
                self.status = response.status_code
                while True:
                    data = response.raw.read(self.chunk)
                    if not data:
                        return
                    self.received += len(data)
                    self.digest.update(data)
                    time.sleep(self.pause)
        except Exception as exc:  # the cut download: the test looks at what arrived
            self.error = exc


def refused(url):
    try:
        requests.get(url + "/", timeout=2)
    except requests.ConnectionError:
        return True
    return False


def log_records(process):
    return [json.loads(line) for line in process.log_path.read_text().splitlines() if line.startswith("{")]


@pytest.fixture
def served(serve_process):
    def start(drain):
        process, url = serve_process(patchstore="filesystem", shutdown_drain_timeout=drain, log_level="info")
        return process, url, upload(url)

    return start


def test_sigterm_lets_a_slow_download_finish_then_exits_0(served):
    process, url, sha256 = served("30s")
    reader = SlowReader(url, 256 * 1024, 0.02)  # about 12 MiB/s: some 3 s for the file
    reader.start()
    wait_for(lambda: reader.received >= 2 * 1024 * 1024, what="the download to start")
    process.send_signal(signal.SIGTERM)
    wait_for(lambda: refused(url), timeout=5, what="new connections to be refused")
    reader.join(60)
    assert reader.error is None and reader.status == 200
    assert reader.received == SIZE_MB * 1024 * 1024 and reader.digest.hexdigest() == sha256
    assert process.wait(30) == 0
    records = log_records(process)
    drained = [r for r in records if r.get("msg") == "drained"]
    assert drained and drained[0]["cut"] == 0, records[-5:]
    assert not any("still running" in r.get("msg", "") for r in records)


def test_past_the_drain_timeout_requests_are_cut_and_counted(served):
    process, url, _ = served("1s")
    reader = SlowReader(url, 64 * 1024, 0.1)  # well over a minute for the file
    reader.start()
    wait_for(lambda: reader.received >= 1024 * 1024, what="the download to start")
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(20) == 0
    assert time.monotonic() - started < 10
    reader.join(60)
    assert reader.received < SIZE_MB * 1024 * 1024
    drained = [r for r in log_records(process) if r.get("msg") == "drained"]
    assert drained and drained[0]["cut"] == 1 and drained[0]["level"] == "warning"
