"""Admin reports on machines, and the retention clean-up of report history."""

from types import SimpleNamespace

import psycopg2
import pytest

from livepatch_app.config import load_config
from livepatch_app.context import KEY
from livepatch_app.data import reports
from livepatch_app.data.reports import CLEANUP_LOCK_ID
from livepatch_app.db import Database
from livepatch_app.jobs import Periodic
from livepatch_app.reports_cleanup import cleanup_reports, job

KERNEL = "5.15.0-107.117-generic"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def fleet(server, machines):
    """machines: {machine: (tier, state, version)}; enables each and checks it in."""
    auth = {}
    for machine, (tier, state, version) in machines.items():
        if tier not in auth:
            r = server.admin("POST", "/v1/admin/auth-token", json={"id": f"tok-{tier}", "tier": tier})
            auth[tier] = r.json()["token"]
        token = server.request("PUT", f"/v1/client/{machine}", headers=bearer(auth[tier])).json()["machine-token"]
        report = {"kernel": KERNEL, "architecture": "amd64"}
        if state:
            report["patch-state"] = state
        if version:
            report["patch-version"] = version
        r = server.request("POST", f"/v1/client/{machine}/updates", headers=bearer(token), json=report)
        assert r.status_code == 200, r.text


FLEET = {
    "a1": ("edge", "applied", "107.1"),
    "a2": ("edge", "applied", "107.1"),
    "a3": ("edge", "apply-failed", "107.1"),
    "a4": ("edge", None, "107.1"),
    "a5": ("edge", "applied", "107.2"),
    "b1": ("beta", "applied", "107.1"),
}


def test_report_machines(server):
    fleet(server, FLEET)

    def report(query):
        r = server.admin("GET", f"/v1/admin/reports/machines?{query}")
        assert r.status_code == 200, r.text
        return [m["machine-id"] for m in r.json()["machines"]]

    assert report("tier=edge") == ["a1", "a2", "a3", "a4", "a5"]
    assert report("tier=edge&version=107.1") == ["a1", "a2", "a3", "a4"]
    assert report("tier=edge&version=107.1&state=applied") == ["a1", "a2"]
    assert report("tier=beta&version=107.1&state=applied") == ["b1"]
    assert report("tier=stable") == []
    body = server.admin("GET", "/v1/admin/reports/machines?tier=edge&version=107.1&limit=1").json()
    assert body["total"] == 4 and len(body["machines"]) == 1
    assert (body["tier"], body["version"], body["state"]) == ("edge", "107.1", None)

    r = server.admin("GET", "/v1/admin/reports/machines")
    assert r.status_code == 400 and r.json()["code"] == "missing-query"
    r = server.admin("GET", "/v1/admin/reports/machines?tier=nope")
    assert r.status_code == 404 and r.json()["code"] == "tier-not-found"
    r = server.admin("GET", "/v1/admin/reports/machines?tier=edge&state=bogus")
    assert r.status_code == 400


def test_patch_health(server):
    fleet(server, FLEET)
    r = server.admin("GET", "/v1/admin/reports/patch-health?tier=edge&version=107.1")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tier"] == "edge" and body["version"] == "107.1" and body["total"] == 4
    # Every state is listed; a machine that reported none counts as unknown.
    assert len(body["states"]) == 9
    assert {k: v for k, v in body["states"].items() if v} == {"applied": 2, "apply-failed": 1, "unknown": 1}
    r = server.admin("GET", "/v1/admin/reports/patch-health?tier=beta&version=107.2")
    assert r.json()["total"] == 0
    for query, status in (("tier=edge", 400), ("version=107.1", 400), ("tier=nope&version=1.1", 404)):
        assert server.admin("GET", f"/v1/admin/reports/patch-health?{query}").status_code == status, query


# --- retention clean-up -------------------------------------------------------

def seed(dsn, ages_days):
    """One report per age (days ago), plus an expired and a live admin session."""
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        for i, age in enumerate(ages_days):
            cur.execute("""INSERT INTO machine_reports (machine_id, reported_at, patch_state)
                           VALUES (%s, now() - make_interval(days => %s), 'applied')""", (f"m{i}", age))
        cur.execute("""INSERT INTO admin_sessions (token_hash, username, expires_at)
                       VALUES ('old', 'admin', now() - interval '3 days'),
                              ('live', 'admin', now() + interval '3 days')""")
    conn.close()


def count(dsn, table, where="true"):
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table} WHERE {where}")
        n = cur.fetchone()[0]
    conn.close()
    return n


@pytest.fixture
def db_and_dsn(make_database):
    dsn = make_database()
    db = Database(dsn, max_connections=2)
    yield db, dsn
    db.close()


def test_cleanup_deletes_every_expired_report(db_and_dsn):
    db, dsn = db_and_dsn
    seed(dsn, [100, 95, 91, 89, 5, 0])
    assert cleanup_reports(db, retention_days=90, batch_size=2) == 3
    assert count(dsn, "machine_reports") == 3
    assert count(dsn, "machine_reports", "machine_id IN ('m0', 'm1', 'm2')") == 0
    assert cleanup_reports(db, retention_days=90, batch_size=2) == 0
    assert cleanup_reports(db, retention_days=1, batch_size=1000) == 2
    assert count(dsn, "machine_reports") == 1
    # Expired admin sessions are purged on the way; live ones stay.
    assert count(dsn, "admin_sessions") == 1 and count(dsn, "admin_sessions", "token_hash = 'live'") == 1
    assert count(dsn, "server_state", "key = 'reports_cleanup_last_run'") == 1


def seed_at(dsn, times):
    """Reports at these times (SQL expressions), machine ids r0, r1, ..."""
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        for i, at in enumerate(times):
            cur.execute(f"INSERT INTO machine_reports (machine_id, reported_at) VALUES (%s, {at})", (f"r{i}",))
    conn.close()


def test_cleanup_deletes_in_batches_until_nothing_expired_is_left(db_and_dsn):
    db, dsn = db_and_dsn
    # Ties on one time across batch boundaries must not be skipped.
    tie = "timestamptz '2000-01-01 00:00:00+00'"
    seed_at(dsn, [tie] * 5 + ["now() - interval '91 days'"] * 2 + ["now() - interval '89 days'", "now()"])
    assert cleanup_reports(db, retention_days=90, batch_size=2) == 7
    assert count(dsn, "machine_reports") == 2
    assert count(dsn, "machine_reports", "machine_id IN ('r7', 'r8')") == 2


def test_cleanup_commits_each_batch_on_its_own(db_and_dsn, monkeypatch):
    db, dsn = db_and_dsn
    seed_at(dsn, [f"now() - interval '{100 + i} days'" for i in range(5)] + ["now()"])
    seen = []
    real = reports.delete_batch

    def delete_batch(*args):
        result = real(*args)
        seen.append(count(dsn, "machine_reports"))  # from another connection: committed rows only
        return result

    monkeypatch.setattr(reports, "delete_batch", delete_batch)
    pauses = []
    assert cleanup_reports(db, retention_days=90, batch_size=2, pause=pauses.append) == 5
    assert seen == [4, 2, 1]
    # Between batches (not after the last) it yields as long as the batch took, at most 1 s.
    assert len(pauses) == 2 and all(0 < p <= 1.0 for p in pauses)


def test_cleanup_releases_its_lock(db_and_dsn):
    db, dsn = db_and_dsn
    seed_at(dsn, ["now() - interval '100 days'"])
    assert cleanup_reports(db, 90, 1000) == 1
    other = psycopg2.connect(dsn)
    try:
        with other.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", (CLEANUP_LOCK_ID,))
            assert cur.fetchone()[0]
    finally:
        other.close()


def test_cleanup_skips_while_another_runner_holds_the_lock(db_and_dsn):
    db, dsn = db_and_dsn
    seed(dsn, [100, 100])
    other = psycopg2.connect(dsn)
    other.autocommit = True
    try:
        with other.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (CLEANUP_LOCK_ID,))
            assert cleanup_reports(db, 90, 1000) == 0
            assert count(dsn, "machine_reports") == 2
            # Unlock explicitly: a closing backend lets go of its locks only later.
            cur.execute("SELECT pg_advisory_unlock(%s)", (CLEANUP_LOCK_ID,))
        assert cleanup_reports(db, 90, 1000) == 2
    finally:
        other.close()


def test_job_runs_on_the_leader_only(db_and_dsn):
    db, dsn = db_and_dsn

    class App:
        def __init__(self, **overrides):
            config = load_config(None, environ={}, overrides={"database_url": dsn, **overrides})
            self.extensions = {KEY: SimpleNamespace(config=config, db=db)}

    assert job(App(leader=False)) is None
    periodic = job(App(leader=True, report_cleanup_interval="2h", report_retention=30,
                       report_cleanup_row_limit=2))
    assert isinstance(periodic, Periodic) and periodic.interval == 7200
    # Its action is one clean-up run with the configured retention and batch size.
    seed(dsn, [40] * 7 + [20])
    periodic.action()
    assert count(dsn, "machine_reports") == 1


def test_job_is_registered():
    from livepatch_app.jobs import JOB_FACTORIES

    assert "livepatch_app.reports_cleanup:job" in JOB_FACTORIES
