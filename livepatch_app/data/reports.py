"""Machine report history (one row per check-in: data/check_ins.py) and its retention
clean-up."""

# One application-wide advisory lock id for the clean-up ("LPRC").
CLEANUP_LOCK_ID = 0x4C50_5243


def try_cleanup_lock(cur):
    """Take the clean-up lock for this transaction, or say another runner has it.
    Transaction-scoped, so a pooled connection can never keep it by mistake."""
    cur.execute("SELECT pg_try_advisory_xact_lock(%s) AS locked", (CLEANUP_LOCK_ID,))
    return cur.fetchone()["locked"]


def delete_older_than(cur, retention_days, row_limit):
    """Delete at most `row_limit` of the oldest reports past retention -> rows deleted."""
    cur.execute(
        """DELETE FROM machine_reports WHERE id IN (
               SELECT id FROM machine_reports
               WHERE reported_at < now() - make_interval(days => %s)
               ORDER BY reported_at LIMIT %s)""",
        (retention_days, row_limit),
    )
    return cur.rowcount


def mark_cleanup_run(cur, deleted):
    """Remember the last run for operators: '<time> <rows deleted>'."""
    cur.execute(
        """INSERT INTO server_state (key, value)
           VALUES ('reports_cleanup_last_run',
                   to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ' ' || %s)
           ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value""",
        (str(deleted),),
    )
