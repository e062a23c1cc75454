"""Client auth tokens: admin-issued, bound to a tier, optionally expiring and
limited in the machines they may enable. Only the token's hash is stored."""

_COLUMNS = """a.id, a.label, a.tier_id, t.name AS tier, a.created_at, a.created_by,
              a.valid_until, a.max_machines, a.revoked_at,
              (a.valid_until IS NOT NULL AND a.valid_until <= now()) AS expired"""
_MACHINES_ENABLED = """(SELECT count(*) FROM machines m WHERE m.auth_token_id = a.id AND m.enabled)
                       AS machines_enabled"""


def create(cur, label, token_hash, tier_id, created_by, valid_until, max_machines):
    """The new token's row, or None when the label is taken."""
    cur.execute(
        """INSERT INTO auth_tokens (label, token_hash, tier_id, created_by, valid_until, max_machines)
           VALUES (%s, %s, %s, %s, %s, %s)
           ON CONFLICT (label) DO NOTHING
           RETURNING id""",
        (label, token_hash, tier_id, created_by, valid_until, max_machines),
    )
    row = cur.fetchone()
    return find_by_label(cur, label) if row else None


def find_by_label(cur, label):
    cur.execute(f"""SELECT {_COLUMNS}, {_MACHINES_ENABLED}
                    FROM auth_tokens a JOIN tiers t ON t.id = a.tier_id WHERE a.label = %s""",
                (label,))
    return cur.fetchone()


def lock_by_hash(cur, token_hash):
    """The token, row-locked until the transaction ends: enables through one
    token run one at a time, so its machine limit holds."""
    cur.execute(
        f"""SELECT {_COLUMNS}
            FROM auth_tokens a JOIN tiers t ON t.id = a.tier_id
            WHERE a.token_hash = %s
            FOR UPDATE OF a""",
        (token_hash,),
    )
    return cur.fetchone()


def list_all(cur):
    """Every token with the number of machines it enabled, oldest first."""
    cur.execute(
        f"""SELECT {_COLUMNS}, {_MACHINES_ENABLED}
            FROM auth_tokens a JOIN tiers t ON t.id = a.tier_id
            ORDER BY a.created_at, a.id"""
    )
    return cur.fetchall()


def revoke(cur, label):
    """Revoke by label -> the row (already-revoked tokens keep their first
    revocation time), or None when no token has that label."""
    cur.execute("UPDATE auth_tokens SET revoked_at = now() WHERE label = %s AND revoked_at IS NULL", (label,))
    return find_by_label(cur, label)
