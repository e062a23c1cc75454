"""Machine report history (one row per check-in: data/check_ins.py) and its retention
clean-up."""

# One application-wide advisory lock id for the clean-up ("LPRC").
CLEANUP_LOCK_ID = 0x4C50_5243


def try_cleanup_lock(cur):
    """Take the clean-up lock for this session, or say another runner has it. Held
    across the run's batches (each its own transaction) until release_cleanup_lock;
    PostgreSQL also releases it when the session ends, so a broken connection, which
    the pool closes, cannot keep it."""
    cur.execute("SELECT pg_try_advisory_lock(%s) AS locked", (CLEANUP_LOCK_ID,))
    return cur.fetchone()["locked"]


def release_cleanup_lock(cur):
    cur.execute("SELECT pg_advisory_unlock(%s)", (CLEANUP_LOCK_ID,))


def retention_cutoff(cur, retention_days):
    """The time before which reports are past retention: taken once per run, so that
    a run deletes what had expired when it began and then ends."""
    cur.execute("SELECT now() - make_interval(days => %s) AS cutoff", (retention_days,))
    return cur.fetchone()["cutoff"]


def delete_batch(cur, cutoff, after, batch_size):
    """Delete up to `batch_size` of the oldest reports older than `cutoff`, from time
    `after` on (None: from the first) -> (rows deleted, the newest time deleted).

    The next batch starts from that time: the entries of the rows just deleted stay in
    the reported_at index until vacuum, and every batch starting from the oldest would
    step over all of them again. From `after` inclusive, so that ties are not missed."""
    cur.execute(
        """WITH batch AS (
               SELECT id FROM machine_reports
               WHERE reported_at >= coalesce(%(after)s::timestamptz, '-infinity') AND reported_at < %(cutoff)s
               ORDER BY reported_at LIMIT %(batch_size)s
           ), gone AS (
               DELETE FROM machine_reports r USING batch WHERE r.id = batch.id
               RETURNING r.reported_at
           )
           SELECT count(*) AS deleted, max(reported_at) AS newest FROM gone""",
        {"after": after, "cutoff": cutoff, "batch_size": batch_size},
    )
    row = cur.fetchone()
    return row["deleted"], row["newest"]


def mark_cleanup_run(cur, deleted):
    """Remember the last run for operators: '<time> <rows deleted>'."""
    cur.execute(
        """INSERT INTO server_state (key, value)
           VALUES ('reports_cleanup_last_run',
                   to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ' ' || %s)
           ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value""",
        (str(deleted),),
    )


def last_cleanup_run(cur):
    """The last clean-up run, {"finished": RFC 3339 time text, "deleted": rows}, or None."""
    cur.execute("SELECT value FROM server_state WHERE key = 'reports_cleanup_last_run'")
    row = cur.fetchone()
    if row is None:
        return None
    finished, _, deleted = row["value"].partition(" ")
    return {"finished": finished, "deleted": deleted}
