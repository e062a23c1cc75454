"""Bench section "scale": the server on a database of 100,000 machines and 11,000,000
reports (scale_seed.py; seeded with COPY once and cached, scale_cache.py), each
figure against the budget of issue 12:

  check-in        POST /v1/client/{id}/updates at scale | the same on an empty database
                  (both on the cached cluster, runs alternated: noise hits both alike)
  reports         GET /v1/admin/reports/machines and /patch-health for the largest tier
                  (what `livepatch-admin report ...` calls): median time | 200 ms
  console         GET /console/ (the web console's overview) and /console/machines?stale=1
                  with a console session: median time | 300 ms (issue 14's budget)
  clean-up        check-ins (one wrk run, stopped when the clean-up ends) while the retention
                  clean-up deletes the 1,000,000 expired reports (reports_cleanup.cleanup_reports
                  with the default row limit and batch size, run from the bench process so
                  that it starts on cue) | the same check-ins without it; p99 < 100 ms

Our servers run with leader=false: the clean-up runs only when the bench starts it.
"""

import os
import signal
import statistics
import subprocess
import time

import requests

import scale_cache
import scale_seed
import serving
from harness import Row, wrk_command, wrk_figures

from livepatch_app.config import OPTIONS
from livepatch_app.db import Database
from livepatch_app.reports_cleanup import cleanup_reports

REPORT_CALLS = 7
TIER, VERSION, STATE = "stable", "107.1", "applied"  # the largest tier, a common version
BUDGET_MS = 200
CONSOLE_BUDGET_MS = 300
CLEANUP_P99_MS = 100
SETTINGS = {"leader": "false"}


def _fleet(server, folder):
    """A patch to offer and serving.MACHINES enrolled machines (their tokens known)."""
    os.makedirs(folder, exist_ok=True)
    serving.upload_patch(server.url, server.admin, folder)
    return serving.enrol(server.url, server.admin, serving.MACHINES, folder)


def _median_ms(server, path, params):
    session = requests.Session()
    session.auth = server.admin
    times = []
    for _ in range(REPORT_CALLS):
        started = time.perf_counter()
        session.get(server.url + path, params=params, timeout=30).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _report_rows(server, rss):
    machines = max(_median_ms(server, "/v1/admin/reports/machines", params)
                   for params in ({"tier": TIER}, {"tier": TIER, "version": VERSION},
                                  {"tier": TIER, "version": VERSION, "state": STATE}))
    health = _median_ms(server, "/v1/admin/reports/patch-health", {"tier": TIER, "version": VERSION})
    budget = f"{BUDGET_MS} ms budget"
    return [Row(f"report machines {TIER} [{VERSION} [{STATE}]] (slowest filter, median of {REPORT_CALLS})",
                budget, f"{BUDGET_MS} ms", f"{machines:.1f} ms", BUDGET_MS / machines, 1.0, rss_mb=rss),
            Row(f"report patch-health {TIER} {VERSION} (median of {REPORT_CALLS})", budget, f"{BUDGET_MS} ms",
                f"{health:.1f} ms", BUDGET_MS / health, 1.0, rss_mb=rss)]


def _console_ms(server, path):
    session = requests.Session()
    user, password = server.admin
    session.post(server.url + "/console/login", data={"username": user, "password": password},
                 allow_redirects=False, timeout=30).raise_for_status()
    times = []
    for _ in range(REPORT_CALLS):
        started = time.perf_counter()
        response = session.get(server.url + path, allow_redirects=False, timeout=30)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, f"{path}: {response.status_code}"
    return statistics.median(times)


def _console_rows(server, rss):
    budget = f"{CONSOLE_BUDGET_MS} ms budget"
    rows = []
    for label, path in (("console overview", "/console/"),
                        ("console machines, stale only, newest first", "/console/machines?stale=1")):
        ms = _console_ms(server, path)
        rows.append(Row(f"{label} at 100k machines (GET {path}, median of {REPORT_CALLS})", budget,
                        f"{CONSOLE_BUDGET_MS} ms", f"{ms:.1f} ms", CONSOLE_BUDGET_MS / ms, 1.0, rss_mb=rss))
    return rows


def _during_cleanup(bench, server, machines, dsn, retention):
    """One wrk run from the clean-up's start to its end (wrk reports when interrupted)
    -> (check-in figures, rows deleted, seconds the clean-up took)."""
    command = wrk_command(server.url + "/v1/client/x/updates", 600, bench.connections,
                          serving.check_in_script(bench.state))
    load = subprocess.Popen(command, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, LP_MACHINES=machines, LP_REPORT=serving.REPORT))
    db = Database(dsn, max_connections=2)
    try:
        time.sleep(1)  # wrk's connections are up
        started = time.monotonic()
        deleted = cleanup_reports(db, retention, OPTIONS["report_cleanup_row_limit"][0])
        seconds = time.monotonic() - started
    finally:
        db.close()
        load.send_signal(signal.SIGINT)
        out = load.communicate(timeout=30)[0]
    return wrk_figures(out), deleted, seconds


def run(bench):
    pg = scale_cache.start_cluster()
    ours = len(bench.servers)
    try:
        return _run(bench, pg.dsn())
    finally:
        for server in bench.servers[ours:]:
            if server.process.poll() is None:
                bench.stop(server.process)
        scale_cache.drop_copies(pg.dsn())
        pg.stop()


def _run(bench, admin_dsn):
    template, seeded_at, seed_seconds = scale_cache.template(admin_dsn)
    started = time.monotonic()
    seeded_dsn = scale_cache.copy(admin_dsn, template)
    copy_seconds = time.monotonic() - started
    print(f"livepatch bench: scale: seed {'made in %.0f s' % seed_seconds if seed_seconds else 'cached'}, "
          f"copied in {copy_seconds:.0f} s", flush=True)
    empty = bench.start_server(bench.new_database(scale_cache.COPY_PREFIX, admin_dsn), **SETTINGS)
    seeded = bench.start_server(seeded_dsn, **SETTINGS)
    empty_machines = _fleet(empty, os.path.join(bench.state, "scale-empty"))
    seeded_machines = _fleet(seeded, os.path.join(bench.state, "scale-seeded"))
    script = serving.check_in_script(bench.state)
    runs = bench.alternated({"empty": serving.check_in_run(empty.url, empty_machines, script),
                             "seeded": serving.check_in_run(seeded.url, seeded_machines, script)})
    on_empty, at_scale = runs["empty"], runs["seeded"]
    bench.stop(empty.process)
    rss = seeded.rss_mb()
    rows = [Row("check-in at 100k machines / 11M reports", "same check-ins, empty database",
                f"{on_empty['rps']:,.0f} req/s", f"{at_scale['rps']:,.0f} req/s", at_scale["rps"] / on_empty["rps"],
                0.9, at_scale["p99_ms"], None, rss, at_scale["errors"])]
    rows += _report_rows(seeded, seeded.rss_mb())
    rows += _console_rows(seeded, seeded.rss_mb())
    during, deleted, seconds = _during_cleanup(bench, seeded, seeded_machines, seeded_dsn,
                                               scale_seed.retention_for(seeded_at))
    assert deleted == scale_seed.EXPIRED, f"the clean-up deleted {deleted} reports, not {scale_seed.EXPIRED}"
    rows.append(Row(f"check-in while the clean-up deletes {deleted:,} expired reports ({seconds:.1f} s)",
                    "same check-ins, no clean-up", f"{at_scale['rps']:,.0f} req/s",
                    f"{during['rps']:,.0f} req/s", during["rps"] / at_scale["rps"], None, during["p99_ms"],
                    CLEANUP_P99_MS, seeded.rss_mb(), during["errors"]))
    return rows
