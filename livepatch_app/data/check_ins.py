"""A check-in's writes and its offer in one statement: one round trip, one commit.

The machine's latest state is updated, the report appended to its history (only if
the machine still exists: the INSERT takes its row from the UPDATE), and the newest
unblocked patch for the kernel in the tier is chosen (patches.NEWEST_OFFER).
Run on an autocommit cursor, the statement is its own transaction: when it returns,
the report is committed."""

from .machines import REPORT_FIELDS
from .patches import NEWEST_OFFER

_ASSIGN = ", ".join(f"{name} = %({name})s" for name in REPORT_FIELDS)
_COLUMNS = ", ".join(REPORT_FIELDS)
_VALUES = ", ".join(f"%({name})s" for name in REPORT_FIELDS)

_STATEMENT = f"""
WITH machine AS (
    UPDATE machines SET last_check_in = now(), {_ASSIGN}
    WHERE machine_id = %(machine_id)s
    RETURNING machine_id, tier_id
), report AS (
    INSERT INTO machine_reports (machine_id, tier_id, {_COLUMNS})
    SELECT machine_id, tier_id, {_VALUES} FROM machine
)
{NEWEST_OFFER}"""


def record(cur, machine_id, tier_id, report, offer_kernel, offer_flavour):
    """Stores the check-in; -> the patch row to offer, or None. offer_kernel None (a
    kernel that is not a version signature) matches no patch."""
    cur.execute(_STATEMENT, {**{name: report.get(name) for name in REPORT_FIELDS}, "machine_id": machine_id,
                             "tier_id": tier_id, "offer_kernel": offer_kernel, "offer_flavour": offer_flavour})
    return cur.fetchone()
