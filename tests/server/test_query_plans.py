"""Every query of the hot paths (check-in, enable, report machines, report
patch-health, the retention clean-up, tier counts) has an index: the real data
functions run on a cursor that EXPLAINs each statement before running it, over a
seeded fleet, and no plan may read machines or machine_reports with a sequential scan.
The planner picks plans from the table statistics (hence ANALYZE after the seed), so
the fleet has a realistic shape: tiers of 5-60 % of the machines, a spread of
kernels, versions and states, reports across the retention window and past it.

The web console's overview and machines page (issue 14) are here too: its per-tier state
counts, top kernels and filtered machine pages.

Left out: queries that read the whole fleet by nature (the machine count a downstream
sends upstream, an unfiltered machine list's total, the console's unfiltered machines
page), and the console's stale count: it reads last_check_in of every machine, which has
no index on purpose (migration 0004: with one, no check-in is a heap-only update)."""

import uuid
from types import SimpleNamespace

import psycopg2
import psycopg2.extras
import pytest
from livetest import create_database, drop_database, with_dbname

from livepatch_app.data import check_ins, machines, patches, reports, tiers
from livepatch_app.data import fleet as fleet_counts

MACHINES = 30_000
REPORTS = 300_000  # over 100 days: a tenth past the 90 days of retention
LARGE_TABLES = {"machines", "machine_reports"}
REPORT = {"kernel": "5.15.0-107.117-generic", "architecture": "amd64", "patch_state": "applied",
          "patch_version": "107.1", "client_version": "10.8.0"}

_SEED = f"""
INSERT INTO auth_tokens (label, token_hash, tier_id) SELECT 'fleet-' || name, md5(name) || md5(name), id FROM tiers;
INSERT INTO patches (filename, kernel, kernel_base, abi, build, flavour, version, version_major, version_minor,
                     architecture, sha256, size, storage_key)
    VALUES ('livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2', '5.15.0-107.117', '5.15.0', 107, 117,
            'generic', '107.1', 107, 1, 'amd64', repeat('a', 64), 10, 'k');
INSERT INTO patch_tiers (patch_id, tier_id) SELECT p.id, t.id FROM patches p, tiers t;
-- Tiers of 5, 10, 25 and 60 %; states 70 % applied; a tenth of the fleet on 107.1. Rows
-- as wide as real ones: the planner weighs reading the table against reading an index.
INSERT INTO machines (machine_id, token_hash, tier_id, auth_token_id, last_check_in, kernel, architecture,
                      patch_state, patch_version, client_version, boot_time, uptime, cpu_model)
SELECT md5('m' || i), md5('t' || i) || md5('u' || i), t.id, a.id, now() - (i % 2880) * interval '1 minute',
       (ARRAY['5.15.0-107.117-generic', '5.15.0-105.115-generic', '6.8.0-35.35-generic',
              '5.15.0-1063.69-aws', '6.5.0-1021.21-azure'])[1 + (i / 20) % 5],
       'amd64',
       (ARRAY['applied', 'applied', 'applied', 'applied', 'applied', 'applied', 'applied', 'nothing-to-apply',
              'apply-failed', 'unapplied'])[1 + (i / 7) % 10],
       (ARRAY['107', '105', '35', '1063', '1021'])[1 + (i / 20) % 5] || '.' || (1 + (i / 3) % 2),
       '10.8.0', to_char(now() - i * interval '1 minute', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), i * 60,
       'Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz'
FROM generate_series(1, {MACHINES}) i
JOIN tiers t ON t.name = CASE WHEN i % 20 = 0 THEN 'edge' WHEN i % 20 < 3 THEN 'beta'
                              WHEN i % 20 < 8 THEN 'candidate' ELSE 'stable' END
JOIN auth_tokens a ON a.tier_id = t.id;
-- Oldest first, as check-ins append them.
INSERT INTO machine_reports (machine_id, reported_at, tier_id, kernel, architecture, patch_state, patch_version)
SELECT md5('m' || (1 + n % {MACHINES})), now() - ({REPORTS} - n) * interval '100 days' / {REPORTS}, 4,
       '5.15.0-107.117-generic', 'amd64', 'applied', '107.1'
FROM generate_series(1, {REPORTS}) n;
"""


@pytest.fixture(scope="module")
def fleet(pg_admin_dsn, migrated_template):
    name = "lp_plans_" + uuid.uuid4().hex[:8]
    create_database(pg_admin_dsn, name, migrated_template)
    dsn = with_dbname(pg_admin_dsn, name)
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        # Committed to disk before VACUUM, which marks a page all-visible only once it
        # may set its rows' commit hint bits: not before the commit's WAL is flushed
        # (the test cluster commits asynchronously).
        cur.execute("SET synchronous_commit = on")
        cur.execute(_SEED)
        cur.execute("VACUUM ANALYZE")  # statistics for the planner, the visibility map for index-only scans
        cur.execute("SELECT name, id FROM tiers")
        tier = dict(cur.fetchall())
        cur.execute("SELECT id FROM auth_tokens WHERE tier_id = %s", (tier["stable"],))
        token = cur.fetchone()[0]
        cur.execute("SELECT machine_id, token_hash FROM machines WHERE tier_id = %s LIMIT 1", (tier["stable"],))
        machine_id, token_hash = cur.fetchone()
    conn.close()
    yield SimpleNamespace(dsn=dsn, tier=tier, token=token, machine_id=machine_id, token_hash=token_hash)
    drop_database(pg_admin_dsn, name)


class ExplainingCursor(psycopg2.extras.RealDictCursor):
    """Runs EXPLAIN of each statement, keeps the plan, then runs the statement itself,
    so the data function gets its rows and goes on to its next statement."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.plans = []

    def execute(self, query, vars=None):
        super().execute("EXPLAIN (FORMAT JSON) " + query, vars)
        self.plans.append((query, self.fetchone()["QUERY PLAN"][0]["Plan"]))
        return super().execute(query, vars)


def seq_scans(plan):
    """The large tables a plan (EXPLAIN's JSON) reads with a sequential scan."""
    found = set()
    if plan.get("Node Type") == "Seq Scan" and plan.get("Relation Name") in LARGE_TABLES:
        found.add(plan["Relation Name"])
    for child in plan.get("Plans", ()):
        found |= seq_scans(child)
    return found


def _clean_up(cur, f):
    cutoff = reports.retention_cutoff(cur, 90)
    _, newest = reports.delete_batch(cur, cutoff, None, 1000)
    reports.delete_batch(cur, cutoff, newest, 1000)


# name -> the data functions that path calls, with realistic arguments.
HOT_PATHS = {
    "check-in: token check, report and offer": lambda cur, f: check_ins.record(
        cur, f.machine_id, f.token_hash, REPORT, "5.15.0-107.117", "generic"),
    "machine info, refused check-in: token lookup": lambda cur, f: machines.find_by_token_hash(cur, f.token_hash),
    "enable: machines on the token": lambda cur, f: machines.count_enabled_by_token(cur, f.token, "new"),
    "enable: the machine": lambda cur, f: machines.enable(cur, "new", "0" * 64, f.tier["stable"], f.token),
    "report machines <largest tier>": lambda cur, f: machines.search(cur, 100, 0, tier_id=f.tier["stable"]),
    "report machines <smallest tier>": lambda cur, f: machines.search(cur, 100, 0, tier_id=f.tier["edge"]),
    "report machines <tier> <version>": lambda cur, f: machines.search(cur, 100, 0, tier_id=f.tier["stable"],
                                                                       version="107.1"),
    "report machines <tier> <version> <state>": lambda cur, f: machines.search(
        cur, 100, 0, tier_id=f.tier["stable"], version="107.1", state="applied"),
    "report machines <tier> <version> <rare state>": lambda cur, f: machines.search(
        cur, 100, 0, tier_id=f.tier["edge"], version="105.2", state="apply-failed"),
    "report patch-health": lambda cur, f: machines.state_counts(cur, f.tier["stable"], "107.1"),
    "clean-up: first and next batch": _clean_up,
    "tier list with counts": lambda cur, f: tiers.list_with_counts(cur),
    "tier usage": lambda cur, f: tiers.usage(cur, f.tier["stable"]),
    "forget a machine": lambda cur, f: machines.forget(cur, f.machine_id),
    "console overview: tier and state counts": lambda cur, f: fleet_counts.tier_state_counts(cur),
    "console overview: kernels": lambda cur, f: fleet_counts.kernel_counts(cur),
    "console overview: newest version per tier": lambda cur, f: patches.newest_versions(cur),
    "console machines <smallest tier> newest first": lambda cur, f: machines.search(
        cur, 50, 0, order="-last_check_in", tier_id=f.tier["edge"]),
    "console machines <tier> <state> oldest first": lambda cur, f: machines.search(
        cur, 50, 0, order="last_check_in", tier_id=f.tier["beta"], state="apply-failed"),
    "console machines <tier> unknown or never reported": lambda cur, f: machines.search(
        cur, 50, 0, order="-last_check_in", tier_id=f.tier["edge"], state="unknown", unreported_too=True),
    "console machines <kernel>": lambda cur, f: machines.search(
        cur, 50, 0, order="-last_check_in", kernel="6.8.0-35.35-generic"),
    "console machines <tier> <kernel> stale, page 3": lambda cur, f: machines.search(
        cur, 50, 100, order="-last_check_in", tier_id=f.tier["candidate"], kernel="6.5.0-1021.21-azure",
        stale_after=48 * 3600),
}


def plans_of(fleet, path, before=None):
    """[(sql, plan)] of one hot path, run in a transaction that is rolled back."""
    conn = psycopg2.connect(fleet.dsn)
    try:
        with conn.cursor() as cur:
            if before:
                cur.execute(before)
        with conn.cursor(cursor_factory=ExplainingCursor) as cur:
            HOT_PATHS[path](cur, fleet)
            return cur.plans
    finally:
        conn.rollback()
        conn.close()


@pytest.mark.parametrize("path", sorted(HOT_PATHS))
def test_no_sequential_scan_of_a_large_table(fleet, path):
    plans = plans_of(fleet, path)
    assert plans
    for sql, plan in plans:
        assert not seq_scans(plan), f"{path}: sequential scan of {seq_scans(plan)} in\n{sql}\n{plan}"


@pytest.mark.parametrize("index, path", [
    ("machines_tier_patch_idx", "report patch-health"),
    ("machines_tier_patch_idx", "report machines <tier> <version> <state>"),
    ("machines_auth_token_enabled_idx", "enable: machines on the token"),
    ("machine_reports_reported_at_idx", "clean-up: first and next batch"),
    ("machines_kernel_idx", "console overview: kernels"),
    ("machines_kernel_idx", "console machines <kernel>"),
    ("machines_tier_patch_idx", "console overview: tier and state counts"),
])
def test_a_dropped_index_is_caught(fleet, index, path):
    plans = plans_of(fleet, path, before=f"DROP INDEX {index}")
    assert any(seq_scans(plan) for _, plan in plans)
