"""The fleet at a glance (the console's overview): counts over every machine,
aggregated in SQL. Each query is served by an index (tests/server/test_query_plans.py)
except the stale count, which reads last_check_in of every machine: that column is
not indexed on purpose (migration 0004: an index on it would make every check-in
write into every index of machines)."""


def tier_state_counts(cur):
    """[{tier_id, patch_state (None: never reported), machines}] over the whole fleet.
    Tier by tier (there are few), each from machines_tier_patch_idx alone (an
    index-only scan of that tier's part), as tiers.list_with_counts counts them."""
    cur.execute("""SELECT t.id AS tier_id, c.patch_state, c.machines
                   FROM tiers t CROSS JOIN LATERAL (
                       SELECT m.patch_state, count(*) AS machines FROM machines m
                       WHERE m.tier_id = t.id GROUP BY m.patch_state) c""")
    return cur.fetchall()


def stale_counts(cur, stale_after_seconds):
    """{tier_id: machines not seen for more than `stale_after_seconds`} (one that never
    checked in counts from when it was enabled), for the tiers that have any. Reads
    every machine (see above)."""
    cur.execute("""SELECT tier_id, count(*) AS n FROM machines
                   WHERE coalesce(last_check_in, created_at) < now() - make_interval(secs => %s)
                   GROUP BY tier_id""",
                (stale_after_seconds,))
    return {row["tier_id"]: row["n"] for row in cur.fetchall()}


def kernel_counts(cur):
    """[{kernel, machines}] of every reported kernel, most machines first (a fleet runs
    a few dozen): counted from machines_kernel_idx alone, in its order."""
    cur.execute("""SELECT kernel, count(*) AS machines FROM machines WHERE kernel IS NOT NULL
                   GROUP BY kernel ORDER BY machines DESC, kernel""")
    return cur.fetchall()
