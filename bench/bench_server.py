"""Benchmark: the hot paths of a real server process, against a reference, in one run.

Starts an embedded PostgreSQL and `python -m livepatch_app serve` (the production
entry point, real waitress), then measures on loopback:

  1. check-ins  (POST /v1/client/{id}/updates: auth, report write, patch offer)
  2. downloads  (GET /v1/patches/{filename} of one patch, postgres store)
  3. the same download from a reference: a bare waitress app streaming the same
     bytes from a file with wsgi.file_wrapper, i.e. the floor our stack sits on
  4. the server's peak resident memory while serving

Usage: .venv/bin/python bench/bench_server.py [--seconds 5] [--threads 8] [--size-mb 20]
Bounded in time and count; only 127.0.0.1 is ever contacted.
"""

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from livetest import free_port, wait_until_up  # noqa: E402

from livepatch_app.auth_users import hash_password  # noqa: E402
from livepatch_app.devserver import embedded_postgres  # noqa: E402
from livepatch_app import schema  # noqa: E402

PATCH = "livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2"


def hammer(worker, threads, seconds):
    """Runs worker(session) in `threads` threads for `seconds`; returns latencies."""
    latencies, errors = [], []
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def loop(index):
        session = requests.Session()
        mine = []
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                worker(session, index)
            except Exception as exc:  # counted and reported, the run goes on
                errors.append(repr(exc))
                continue
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    pool = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return latencies, errors


def summary(name, latencies, errors, seconds, bytes_each=0):
    if not latencies:
        return f"{name:34s} no successful requests ({len(errors)} errors)"
    ordered = sorted(latencies)
    p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    line = (f"{name:34s} {len(latencies) / seconds:8.1f} req/s  p50 {statistics.median(ordered) * 1000:7.1f} ms"
            f"  p99 {p(0.99):7.1f} ms  errors {len(errors)}")
    if bytes_each:
        line += f"  {len(latencies) * bytes_each / seconds / 1e6:8.1f} MB/s"
    return line


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def reference_server(path, port):
    """A bare waitress app streaming one file: the floor for downloads."""
    code = f"""
import waitress
def app(environ, start_response):
    f = open({path!r}, 'rb')
    start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                              ('Content-Length', str({os.path.getsize(path)}))])
    return environ['wsgi.file_wrapper'](f, 1 << 20)
waitress.serve(app, host='127.0.0.1', port={port}, threads=8, _quiet=True)
"""
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--size-mb", type=int, default=20)
    parser.add_argument("--machines", type=int, default=200)
    args = parser.parse_args()

    state = tempfile.mkdtemp(prefix="lp-bench-")
    pg, dsn = embedded_postgres(state)
    schema.upgrade(dsn)
    password = secrets.token_urlsafe(12)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEPATCH_")}
    env.update({"LIVEPATCH_DATABASE_URL": dsn, "LIVEPATCH_PORT": str(port), "LIVEPATCH_LOG_LEVEL": "error",
                "LIVEPATCH_AUTH_BASIC_USERS": f"admin:{hash_password(password, rounds=4)}",
                "LIVEPATCH_MAX_UPLOAD_SIZE": str(args.size_mb + 1)})
    server = subprocess.Popen([sys.executable, "-m", "livepatch_app", "serve"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    blob = os.path.join(state, PATCH)
    with open(blob, "wb") as handle:
        handle.write(os.urandom(args.size_mb * 1024 * 1024))
    ref_port = free_port()
    reference = reference_server(blob, ref_port)
    try:
        wait_until_up(url)
        admin = (("admin", password))
        with open(blob, "rb") as handle:
            requests.put(f"{url}/v1/admin/patches/{PATCH}", data=handle, auth=admin, timeout=120).raise_for_status()
        token = requests.post(f"{url}/v1/admin/auth-token", json={"id": "bench", "tier": "edge"},
                              auth=admin, timeout=10).json()["token"]
        machines = []
        for _ in range(args.machines):
            machine_id = uuid.uuid4().hex
            answer = requests.put(f"{url}/v1/client/{machine_id}", headers={"Authorization": f"Bearer {token}"},
                                  timeout=10).json()
            machines.append((machine_id, answer["machine-token"]))
        report = {"kernel": "5.15.0-107.117-generic", "architecture": "amd64", "patch-state": "applied",
                  "patch-version": "107.1", "client-version": "10.8.0"}

        def check_in(session, index):
            machine_id, machine_token = machines[(index * 7919 + int(time.monotonic() * 1000)) % len(machines)]
            r = session.post(f"{url}/v1/client/{machine_id}/updates", json=report,
                             headers={"Authorization": f"Bearer {machine_token}"}, timeout=30)
            r.raise_for_status()
            assert r.json()["patches"], "no patch offered"

        def download(base):
            def fetch(session, index):
                size = 0
                with session.get(f"{base}/v1/patches/{PATCH}", stream=True, timeout=60) as r:
                    r.raise_for_status()
                    for chunk in r.iter_content(1 << 20):
                        size += len(chunk)
                assert size == args.size_mb * 1024 * 1024
            return fetch

        wait_until_up(f"http://127.0.0.1:{ref_port}")
        print(f"livepatch bench: {args.threads} threads, {args.seconds:.0f} s per case, "
              f"{args.machines} machines, {args.size_mb} MB patch, 2 cores shared by client and server")
        lat, err = hammer(check_in, args.threads, args.seconds)
        print(summary("check-in (POST .../updates)", lat, err, args.seconds))
        lat, err = hammer(download(url), args.threads, args.seconds)
        print(summary("download, postgres store", lat, err, args.seconds, args.size_mb * 1024 * 1024))
        lat, err = hammer(download(f"http://127.0.0.1:{ref_port}"), args.threads, args.seconds)
        print(summary("reference: bare waitress + file", lat, err, args.seconds, args.size_mb * 1024 * 1024))
        print(f"{'server peak RSS':34s} {peak_rss_mb(server.pid):8.1f} MB")
    finally:
        server.terminate()
        reference.terminate()
        server.wait(10)
        reference.wait(10)
        pg.cleanup()


if __name__ == "__main__":
    main()
