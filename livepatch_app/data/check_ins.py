"""A check-in in one statement: one round trip, one commit.

The statement checks the machine token (the machine row must have both the id and
the token's hash), updates the machine's latest state, appends the report to its
history (the INSERT takes its row from the UPDATE, so nothing is written for a
token that does not match) and picks the newest unblocked patch for the kernel in
the machine's tier (patches.newest_offer_sql). It is a prepared statement
(db.Prepared): parsing and planning it each time cost PostgreSQL as much CPU as
running it. On an autocommit cursor it is its own transaction: when it returns,
the report is committed."""

from ..db import Prepared
from .machines import REPORT_FIELDS
from .patches import newest_offer_sql

# What the answer needs of the offered patch.
OFFER_COLUMNS = "p.filename, p.version, p.kernel, p.sha256, p.size"

_ASSIGN = ", ".join(f"{name} = %({name})s" for name in REPORT_FIELDS)
_COLUMNS = ", ".join(REPORT_FIELDS)
_VALUES = ", ".join(f"%({name})s" for name in REPORT_FIELDS)
_TYPES = {"uptime": "bigint"}  # the other report fields are text

_STATEMENT = Prepared("check_in", f"""
WITH machine AS (
    UPDATE machines m SET last_check_in = now(), {_ASSIGN}
    FROM tiers t
    WHERE m.machine_id = %(machine_id)s AND m.token_hash = %(token_hash)s AND t.id = m.tier_id
    RETURNING m.machine_id, m.tier_id, t.name AS tier
), report AS (
    INSERT INTO machine_reports (machine_id, tier_id, {_COLUMNS})
    SELECT machine_id, tier_id, {_VALUES} FROM machine
)
SELECT machine.tier, offer.* FROM machine
LEFT JOIN LATERAL ({newest_offer_sql("machine.tier_id", OFFER_COLUMNS)}) offer ON true""",
    [(name, _TYPES.get(name, "text")) for name in REPORT_FIELDS]
    + [(name, "text") for name in ("machine_id", "token_hash", "offer_kernel", "offer_flavour")])


def record(cur, machine_id, token_hash, report, offer_kernel, offer_flavour):
    """Stores the check-in of the machine whose token hashes to `token_hash`; -> None
    when no machine `machine_id` has that token (nothing is written), else a row:
    the machine's `tier` and the offered patch's OFFER_COLUMNS (filename None: no
    offer). offer_kernel None (a kernel that is not a version signature) matches no
    patch."""
    _STATEMENT.execute(cur, {**{name: report.get(name) for name in REPORT_FIELDS}, "machine_id": machine_id,
                             "token_hash": token_hash, "offer_kernel": offer_kernel, "offer_flavour": offer_flavour})
    return cur.fetchone()
