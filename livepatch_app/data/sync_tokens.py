"""Sync tokens (upstream side): a downstream server's credential, bound to a
tier, optionally expiring, stored only as a hash."""


def create(cur, name, token_hash, tier_id, valid_until):
    """A new token named `name`; a revoked token of that name is replaced.
    -> the new row, or None when an active token already has that name."""
    cur.execute("DELETE FROM sync_tokens WHERE name = %s AND revoked_at IS NOT NULL", (name,))
    cur.execute(
        """INSERT INTO sync_tokens (name, token_hash, tier_id, valid_until)
           VALUES (%s, %s, %s, %s)
           ON CONFLICT (name) DO NOTHING
           RETURNING id, name, created_at, valid_until""",
        (name, token_hash, tier_id, valid_until))
    return cur.fetchone()


def list_all(cur):
    cur.execute(
        """SELECT s.name, t.name AS tier, s.created_at, s.valid_until, s.revoked_at
           FROM sync_tokens s JOIN tiers t ON t.id = s.tier_id
           ORDER BY s.name""")
    return cur.fetchall()


def revoke(cur, name):
    cur.execute("UPDATE sync_tokens SET revoked_at = now() WHERE name = %s AND revoked_at IS NULL", (name,))
    return cur.rowcount > 0


def find_by_hash(cur, token_hash):
    """The token row with its tier and whether it is usable now (unique index on token_hash)."""
    cur.execute(
        """SELECT s.id, s.name, s.tier_id, t.name AS tier, s.valid_until, s.revoked_at,
                  (s.valid_until IS NOT NULL AND s.valid_until <= now()) AS expired
           FROM sync_tokens s JOIN tiers t ON t.id = s.tier_id
           WHERE s.token_hash = %s""",
        (token_hash,))
    return cur.fetchone()
