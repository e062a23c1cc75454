"""The fleet at a glance (the console's overview): counts over every machine,
aggregated in SQL. Each query is served by an index (tests/server/test_query_plans.py)
except the stale count, which reads last_check_in of every machine: that column is
not indexed on purpose (migration 0004: an index on it would make every check-in
write into every index of machines)."""


def tier_state_counts(cur):
    """[{tier_id, patch_state (None: never reported), machines}] over the whole fleet,
    read from machines_tier_patch_idx alone (an index-only scan)."""
    cur.execute("""SELECT tier_id, patch_state, count(*) AS machines FROM machines
                   GROUP BY tier_id, patch_state""")
    return cur.fetchall()


def stale_count(cur, stale_after_seconds):
    """Machines not seen for more than `stale_after_seconds` (one that never checked in
    counts from when it was enabled)."""
    cur.execute("""SELECT count(*) AS n FROM machines
                   WHERE coalesce(last_check_in, created_at) < now() - make_interval(secs => %s)""",
                (stale_after_seconds,))
    return cur.fetchone()["n"]


def top_kernels(cur, limit):
    """[{kernel, machines}] of the `limit` most common reported kernels, most first
    (machines_kernel_idx: an index-only scan)."""
    cur.execute("""SELECT kernel, count(*) AS machines FROM machines WHERE kernel IS NOT NULL
                   GROUP BY kernel ORDER BY machines DESC, kernel LIMIT %s""", (limit,))
    return cur.fetchall()


def kernel_count(cur):
    """How many different kernels the fleet reports."""
    cur.execute("SELECT count(DISTINCT kernel) AS n FROM machines WHERE kernel IS NOT NULL")
    return cur.fetchone()["n"]
