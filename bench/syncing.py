"""Bench section "syncing": patch sync between two of our servers (upstream and
downstream, each on its own database, as `serve` processes), against one client
fetching the same files over loopback:

  full sync   500 files of ~100 KB: one curl process fetching the 500 URLs from the
              upstream, one after the other | `POST /v1/admin/sync/trigger {"wait": true}`
              on a fresh downstream, timed until the run is recorded as finished
  re-sync     nothing new among 10,000 upstream patches (the 500 plus 9,500 rows seeded
              into both databases with COPY, all served by the upstream) | a 1 s budget

Each figure is the fastest of ROUNDS, reference and ours taking turns: the machine's
cores are shared, and the fastest run is the one least disturbed.
"""

import concurrent.futures
import io
import os
import resource
import subprocess
import time

import psycopg2
import requests

from harness import Row
from livepatch_app.patchname import parse_patch_name

FILES = 500
FILE_BYTES = 100 * 1024
UPSTREAM_PATCHES = 10_000
RESYNC_BUDGET_S = 1.0
ROUNDS = 3


def full_sync_name(i):
    return f"livepatch-5.15.0-{100 + i}.{i}-generic-{100 + i}.1-amd64.tar.bz2"


def seeded_name(i):
    return f"livepatch-6.8.0-{i}.{i}-generic-{i}.1-amd64.tar.bz2"


def upload_files(server, names):
    """~FILE_BYTES of random bytes per name, uploaded to `server` (lands in its first tier)."""
    def put(chunk):
        with requests.Session() as session:
            for name in chunk:
                data = os.urandom(FILE_BYTES + len(name))
                session.put(f"{server.url}/v1/admin/patches/{name}", data=data, auth=server.admin,
                            timeout=60).raise_for_status()

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(put, [names[i::4] for i in range(4)]))


def curl_config(url, names, folder):
    """A curl config fetching every name from `url` into `folder`; -> its path."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "curl.conf")
    with open(path, "w") as handle:
        for name in names:
            handle.write(f'url = "{url}/v1/patches/{name}"\noutput = "{os.path.join(folder, name)}"\n')
    return path


def curl_fetch(config):
    """Seconds one curl process takes for every URL of `config` (one after the other)."""
    started = time.perf_counter()
    subprocess.run(["curl", "--silent", "--show-error", "--fail", "--config", config], check=True)
    return time.perf_counter() - started


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid, children=False):
    """User + system CPU seconds of process `pid` (with its reaped children's, `children`)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return sum(int(n) for n in fields[11:15 if children else 13]) / _TICK


def postgres_cpu(dsn):
    """CPU seconds of the whole PostgreSQL cluster so far: the postmaster, its live
    processes and the backends already gone (reaped: counted in the postmaster's)."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW data_directory")
            folder = cur.fetchone()[0]
    finally:
        conn.close()
    with open(os.path.join(folder, "postmaster.pid")) as handle:
        postmaster = int(handle.readline())
    total = cpu_seconds(postmaster, children=True)
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat") as handle:
                if int(handle.read().rsplit(")", 1)[1].split()[1]) == postmaster:
                    total += cpu_seconds(int(name))
        except (ValueError, OSError):
            continue
    return total


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def trigger(server):
    """-> (seconds, run) of a sync triggered as an operator does, waiting for its end."""
    started = time.perf_counter()
    answer = requests.post(f"{server.url}/v1/admin/sync/trigger", json={"wait": True}, auth=server.admin,
                           timeout=300)
    seconds = time.perf_counter() - started
    if answer.status_code != 200:
        raise RuntimeError(f"sync trigger: HTTP {answer.status_code}: {answer.text[:300]}")
    return seconds, answer.json()


def seed_patches(dsn, names, like):
    """Patch rows for `names` in the first tier, sharing the bytes (storage key, sha256,
    size) of the stored patch `like`: real rows, served like any other."""
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT sha256, size, storage_key FROM patches WHERE filename = %s", (like,))
            sha256, size, key = cur.fetchone()
            rows = io.StringIO()
            for name in names:
                p = parse_patch_name(name)
                rows.write("\t".join(map(str, (
                    p.filename, p.kernel, p.kernel_base, p.abi, p.build, p.flavour, p.version, p.version_major,
                    p.version_minor, p.architecture, sha256, size, key, "sync"))) + "\n")
            rows.seek(0)
            cur.copy_expert("COPY patches (filename, kernel, kernel_base, abi, build, flavour, version, "
                            "version_major, version_minor, architecture, sha256, size, storage_key, source) "
                            "FROM STDIN", rows)
            cur.execute("""INSERT INTO patch_tiers (patch_id, tier_id)
                           SELECT p.id, (SELECT id FROM tiers ORDER BY position LIMIT 1) FROM patches p
                           WHERE p.filename = ANY(%s) ON CONFLICT DO NOTHING""", (names,))
            cur.execute("ANALYZE patches; ANALYZE patch_tiers")
    finally:
        conn.close()


def sync_token(server, tier="edge"):
    answer = requests.post(f"{server.url}/v1/admin/sync-tokens", auth=server.admin, timeout=10,
                           json={"name": "bench-downstream", "tier": tier})
    answer.raise_for_status()
    return answer.json()["token"]


def downstream(bench, upstream, token):
    """A fresh downstream of `upstream` -> (Server, dsn). Not the leader: no scheduled
    run starts behind the bench's back; the trigger works on any unit."""
    dsn = bench.new_database()
    return bench.start_server(dsn, patch_sync_enabled="true", sync_upstream=upstream.url, sync_token=token,
                              leader="false"), dsn


def run(bench):
    upstream_dsn = bench.new_database()
    upstream = bench.start_server(upstream_dsn)
    names = [full_sync_name(i) for i in range(FILES)]
    upload_files(upstream, names)
    token = sync_token(upstream)
    config = curl_config(upstream.url, names, os.path.join(bench.state, "curl"))
    curl_fetch(config)  # the upstream's patch cache now holds every file, for curl and sync alike

    references, ours, failed, resync_failed = [], [], 0, 0
    for _ in range(ROUNDS):
        before = children_cpu(), cpu_seconds(upstream.process.pid)
        references.append(curl_fetch(config))
        curl_cpu, curl_upstream_cpu = children_cpu() - before[0], cpu_seconds(upstream.process.pid) - before[1]
        down, down_dsn = downstream(bench, upstream, token)
        before = (cpu_seconds(down.process.pid), cpu_seconds(upstream.process.pid), postgres_cpu(bench.admin_dsn))
        seconds, result = trigger(down)
        after = (cpu_seconds(down.process.pid), cpu_seconds(upstream.process.pid), postgres_cpu(bench.admin_dsn))
        cpu = [b - a for a, b in zip(before, after)]
        # CPU time, unlike wall time, hardly depends on what else shares the cores.
        # The upstream's CPU while serving curl shows the floor both share: curl waits for
        # one file at a time, so its wall time is mostly the upstream's CPU time.
        print(f"  full sync: curl {references[-1]:.2f} s wall, {curl_cpu:.2f} s CPU, upstream {curl_upstream_cpu:.2f} s "
              f"CPU | ours {seconds:.2f} s wall, "
              f"CPU downstream {cpu[0]:.2f} s, upstream {cpu[1]:.2f} s, postgres {cpu[2]:.2f} s", flush=True)
        if result["result"] != "success" or result["patches-added"] != FILES:
            failed += 1
        ours.append(seconds)
        full_rss = down.rss_mb()
        if len(ours) < ROUNDS:
            bench.stop(down.process)

    seeded = [seeded_name(i) for i in range(1, UPSTREAM_PATCHES - FILES + 1)]
    seed_patches(upstream_dsn, seeded, names[0])
    seed_patches(down_dsn, seeded, names[0])
    resyncs = []
    for _ in range(ROUNDS):
        seconds, result = trigger(down)
        if result["result"] != "success" or result["patches-added"] != 0:
            resync_failed += 1
        resyncs.append(seconds)
    ref, best, resync = min(references), min(ours), min(resyncs)
    return [
        Row(f"full sync, {FILES} files of {FILE_BYTES // 1024} KB", "one curl process, same URLs",
            f"{ref:.2f} s", f"{best:.2f} s", ref / best, 0.8, rss_mb=full_rss, errors=failed),
        Row(f"no-change re-sync, {UPSTREAM_PATCHES:,} upstream patches", "budget", f"{RESYNC_BUDGET_S:.2f} s",
            f"{resync:.3f} s", RESYNC_BUDGET_S / resync, 1.0, rss_mb=down.rss_mb(), errors=resync_failed),
    ]
