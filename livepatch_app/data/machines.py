"""Enabled machines: their token (hashed), tier, and the latest state they reported."""

_COLUMNS = """m.machine_id, m.tier_id, t.name AS tier, m.enabled, m.created_at, m.last_check_in,
              m.kernel, m.architecture, m.patch_state, m.patch_version, m.client_version,
              m.boot_time, m.uptime, m.cpu_model, a.label AS auth_token"""
_FROM = """machines m JOIN tiers t ON t.id = m.tier_id
           LEFT JOIN auth_tokens a ON a.id = m.auth_token_id"""

# Report fields copied as they are from a check-in to the machine and its history.
REPORT_FIELDS = ("kernel", "architecture", "patch_state", "patch_version", "client_version",
                 "boot_time", "uptime", "cpu_model")


def find_by_token_hash(cur, token_hash):
    cur.execute(f"SELECT {_COLUMNS} FROM {_FROM} WHERE m.token_hash = %s", (token_hash,))
    return cur.fetchone()


def count_enabled_by_token(cur, auth_token_id, other_than):
    """Machines enabled through this auth token, not counting `other_than`
    (the machine being re-enabled must not count twice)."""
    cur.execute("""SELECT count(*) AS n FROM machines
                   WHERE auth_token_id = %s AND enabled AND machine_id <> %s""",
                (auth_token_id, other_than))
    return cur.fetchone()["n"]


def enable(cur, machine_id, token_hash, tier_id, auth_token_id):
    """Create the machine, or re-enable it: a new token replaces the old one
    (which stops working), and the tier follows the auth token used."""
    cur.execute(
        """INSERT INTO machines (machine_id, token_hash, tier_id, auth_token_id, enabled)
           VALUES (%s, %s, %s, %s, true)
           ON CONFLICT (machine_id) DO UPDATE
               SET token_hash = EXCLUDED.token_hash, tier_id = EXCLUDED.tier_id,
                   auth_token_id = EXCLUDED.auth_token_id, enabled = true
           RETURNING (xmax = 0) AS created""",
        (machine_id, token_hash, tier_id, auth_token_id),
    )
    return cur.fetchone()["created"]


# search's orders: by machine id (the admin API's), by last check-in (the console's).
ORDERS = {
    "machine_id": "m.machine_id",
    "last_check_in": "m.last_check_in NULLS FIRST, m.machine_id",
    "-last_check_in": "m.last_check_in DESC NULLS LAST, m.machine_id",
}


def _filters(tier_id=None, kernel=None, state=None, version=None, stale_after=None, unreported_too=False):
    """stale_after: only machines not seen for more than that many seconds (one that never
    checked in counts from when it was enabled); unreported_too: `state` also matches
    machines that reported no state (as patch-health counts them as unknown)."""
    clauses, params = [], []
    for column, value in (("m.tier_id", tier_id), ("m.kernel", kernel),
                          ("m.patch_state", state), ("m.patch_version", version)):
        if value is not None:
            clauses.append(f"({column} = %s OR {column} IS NULL)" if column == "m.patch_state" and unreported_too
                           else f"{column} = %s")
            params.append(value)
    if stale_after is not None:
        clauses.append("coalesce(m.last_check_in, m.created_at) < now() - make_interval(secs => %s)")
        params.append(stale_after)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def search(cur, limit, offset, order="machine_id", **filters):
    """-> (machines of this page in `order` (a key of ORDERS), total matching)."""
    where, params = _filters(**filters)
    cur.execute(f"SELECT count(*) AS n FROM machines m{where}", params)
    total = cur.fetchone()["n"]
    cur.execute(f"SELECT {_COLUMNS} FROM {_FROM}{where} ORDER BY {ORDERS[order]} LIMIT %s OFFSET %s",
                params + [limit, offset])
    return cur.fetchall(), total


def forget(cur, machine_id):
    """Delete the machine (and so its token). Its report history stays until
    the retention clean-up removes it. -> whether it existed."""
    cur.execute("DELETE FROM machines WHERE machine_id = %s", (machine_id,))
    return cur.rowcount > 0


def state_counts(cur, tier_id, version):
    """{patch state or None: machines} for the tier's machines on that patch version."""
    cur.execute("""SELECT patch_state, count(*) AS n FROM machines
                   WHERE tier_id = %s AND patch_version = %s
                   GROUP BY patch_state""",
                (tier_id, version))
    return {row["patch_state"]: row["n"] for row in cur.fetchall()}
