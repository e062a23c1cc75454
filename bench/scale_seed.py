"""The 100,000-machine fleet of the bench's "scale" section, written straight into a
migrated database with COPY (HTTP would take hours): machines in four tiers, each on
a seeded auth token, with a spread of kernels, architectures, patch states and check-in
times; and their report history, in time order as check-ins append it, across the
retention window plus a block of expired reports for the clean-up to delete.

Rows are what the server writes (api/client.py, data/machines.py, data/check_ins.py):
a machine's id is 32 hex digits and its token a sha256 hex digest; a machine that never
checked in has no state; a report copies its machine's state and tier. Random but
deterministic (one seed), so a cached copy is the same fleet as a fresh one.

Reports are placed around a gap, so that whichever day the cached copy is used on, a
whole number of retention days separates the expired block from the rest exactly
(`retention_for`)."""

import datetime
import random

MACHINES = 100_000
REPORTS = 10_000_000  # within retention
EXPIRED = 1_000_000  # older than retention, for the clean-up
RETENTION_DAYS = 90
_LIVE_SPAN = 89 * 86400  # reports of the last 89 days ...
_EXPIRED_FROM, _EXPIRED_TO = 120 * 86400, 91 * 86400  # ... and between 120 and 91 days ago

# name -> share of the fleet; the server's four default tiers.
TIERS = {"edge": 0.05, "beta": 0.10, "candidate": 0.25, "stable": 0.60}
KERNELS = [("5.15.0-107.117-generic", "107"), ("5.15.0-105.115-generic", "105"), ("6.8.0-35.35-generic", "35"),
           ("5.15.0-1063.69-aws", "1063"), ("6.5.0-1021.21-azure", "1021"), ("5.4.0-182.202-generic", "182")]
STATES = {"applied": 0.70, "nothing-to-apply": 0.14, "unapplied": 0.04, "apply-failed": 0.03, "needs-check": 0.02,
          "kernel-upgrade-required": 0.03, "check-failed": 0.01, "applied-with-bug": 0.01, "unknown": 0.01,
          None: 0.01}
CPUS = ["Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "AMD EPYC 7B13", "Neoverse-N1",
        "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz"]
CLIENTS = ["10.8.0", "10.7.2", "10.6.1"]
NEVER_CHECKED_IN = 0.02

_MACHINE_COLUMNS = ("machine_id, token_hash, tier_id, auth_token_id, enabled, created_at, last_check_in, kernel, "
                    "architecture, patch_state, patch_version, client_version, boot_time, uptime, cpu_model")
_REPORT_COLUMNS = ("machine_id, reported_at, tier_id, kernel, architecture, patch_state, patch_version, "
                   "client_version, boot_time, uptime, cpu_model")
_NULL = "\\N"


def _pick(rng, shares):
    return rng.choices(list(shares), weights=list(shares.values()))[0]


def _stamp(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S+00")


class _Chunks:
    """A file whose read() gives the next chunk of a generator: COPY streams the rows
    without the whole table in memory (psycopg2 sends whatever read() returns)."""

    def __init__(self, chunks):
        self._chunks = chunks

    def read(self, size=-1):
        return next(self._chunks, "")


def _machines(rng, tier_ids, token_ids, now):
    """-> [(machine COPY line, report tail or None, tier id)]."""
    fleet = []
    for _ in range(MACHINES):
        tier = _pick(rng, TIERS)
        created = now - rng.uniform(120, 400) * 86400
        row = [f"{rng.getrandbits(128):032x}", f"{rng.getrandbits(256):064x}", str(tier_ids[tier]),
               str(token_ids[tier]), "t", _stamp(created)]
        if rng.random() < NEVER_CHECKED_IN:
            fleet.append(("\t".join(row + [_NULL] * 9), None, tier_ids[tier]))
            continue
        kernel, abi = rng.choice(KERNELS)
        state = _pick(rng, STATES)
        version = _NULL if state in ("nothing-to-apply", None) else f"{abi}.{rng.choice((1, 1, 2))}"
        uptime = rng.randrange(3600, 90 * 86400)
        report = [kernel, "arm64" if rng.random() < 0.1 else "amd64", state or _NULL, version, rng.choice(CLIENTS),
                  _stamp(now - uptime), str(uptime), rng.choice(CPUS)]
        row += [_stamp(now - rng.uniform(0, 2 * 86400))] + report
        fleet.append(("\t".join(row), "\t".join(report), tier_ids[tier]))
    return fleet


def _reports(rng, fleet, now):
    """Chunks of the EXPIRED + REPORTS COPY lines, oldest first: the reporting machines
    take turns, as periodic check-ins do."""
    reporting = [(row.split("\t", 1)[0] + "\t", f"\t{tier_id}\t{tail}\n") for row, tail, tier_id in fleet
                 if tail is not None]
    rng.shuffle(reporting)
    # Times are written from a day's date and a table of the day's seconds: strftime
    # for each of 11 million rows would be most of the seed's time.
    seconds = [f" {h:02}:{m:02}:{s:02}+00" for h in range(24) for m in range(60) for s in range(60)]
    dates = {}
    turn = 0
    for count, start, end in ((EXPIRED, now - _EXPIRED_FROM, now - _EXPIRED_TO), (REPORTS, now - _LIVE_SPAN, now)):
        step = (end - start) / count
        for first in range(0, count, 5000):
            lines = []
            for n in range(first, min(first + 5000, count)):
                day, second = divmod(int(start + n * step), 86400)
                if day not in dates:
                    dates[day] = _stamp(day * 86400)[:10]
                head, tail = reporting[turn % len(reporting)]
                turn += 1
                lines.append(f"{head}{dates[day]}{seconds[second]}{tail}")
            yield "".join(lines)


def seed(conn, now=None):
    """Fills the (migrated, empty) database of `conn` and commits; -> the seed time
    (epoch seconds), which `retention_for` needs."""
    now = int(now or datetime.datetime.now(datetime.timezone.utc).timestamp())
    rng = random.Random(12)
    with conn.cursor() as cur:
        cur.execute("SELECT name, id FROM tiers")
        tier_ids = dict(cur.fetchall())
        token_ids = {}
        for tier in TIERS:
            cur.execute("""INSERT INTO auth_tokens (label, token_hash, tier_id, created_by)
                           VALUES (%s, %s, %s, 'bench') RETURNING id""",
                        (f"seed-{tier}", f"{rng.getrandbits(256):064x}", tier_ids[tier]))
            token_ids[tier] = cur.fetchone()[0]
        fleet = _machines(rng, tier_ids, token_ids, now)
        cur.copy_expert(f"COPY machines ({_MACHINE_COLUMNS}) FROM STDIN",
                        _Chunks(iter(["".join(row + "\n" for row, _, _ in fleet)])))
        # Loading first and indexing after is several times faster than keeping the
        # indexes up to date row by row; the migrations' own definitions are rebuilt.
        cur.execute("""SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'machine_reports'
                         AND indexname NOT IN (SELECT conname FROM pg_constraint)""")
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
        cur.copy_expert(f"COPY machine_reports ({_REPORT_COLUMNS}) FROM STDIN", _Chunks(_reports(rng, fleet, now)))
        for _, definition in indexes:
            cur.execute(definition)
    conn.commit()
    return now


def retention_for(seeded_at, now=None):
    """The whole number of retention days that, today, leaves every expired report of
    the seed past retention and every other report within it."""
    now = now or datetime.datetime.now(datetime.timezone.utc).timestamp()
    return round(RETENTION_DAYS + (now - seeded_at) / 86400)
