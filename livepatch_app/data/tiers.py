"""Tiers: ordered by position; the first tier receives uploads and synced patches.

Positions are unique integers with gaps; an insertion renumbers the whole (small)
table under a lock, so concurrent creates never collide on a position."""


def list_all(cur):
    cur.execute("SELECT id, name, position, created_at FROM tiers ORDER BY position")
    return cur.fetchall()


def find(cur, name):
    cur.execute("SELECT id, name, position FROM tiers WHERE name = %s", (name,))
    return cur.fetchone()


def first(cur):
    cur.execute("SELECT id, name, position FROM tiers ORDER BY position LIMIT 1")
    return cur.fetchone()


def list_with_counts(cur):
    """Every tier in order with `patches` (visible in it) and `machines` (bound to it)."""
    cur.execute(
        """SELECT t.id, t.name, t.position, t.created_at,
                  (SELECT count(*) FROM patch_tiers pt WHERE pt.tier_id = t.id) AS patches,
                  (SELECT count(*) FROM machines m WHERE m.tier_id = t.id) AS machines
           FROM tiers t ORDER BY t.position""")
    return cur.fetchall()


def lock(cur):
    """Serialises tier changes (create, delete, renumber) for this transaction."""
    cur.execute("LOCK TABLE tiers IN SHARE ROW EXCLUSIVE MODE")


def create(cur, name, after=None):
    """Inserts tier `name` right after tier row `after` (or at the end); returns the
    new row, or None when the name exists. Call under lock()."""
    if find(cur, name) is not None:
        return None
    ordered = list_all(cur)
    index = len(ordered) if after is None else next(
        i + 1 for i, tier in enumerate(ordered) if tier["id"] == after["id"])
    ids = [tier["id"] for tier in ordered]
    # Move every position out of the way first: positions are UNIQUE per row.
    cur.execute("UPDATE tiers SET position = -position - 1")
    for i, tier_id in enumerate(ids[:index] + [None] + ids[index:]):
        if tier_id is not None:
            cur.execute("UPDATE tiers SET position = %s WHERE id = %s", ((i + 1) * 10, tier_id))
    cur.execute("INSERT INTO tiers (name, position) VALUES (%s, %s) RETURNING id, name, position",
                (name, (index + 1) * 10))
    return cur.fetchone()


def usage(cur, tier_id):
    """What keeps a tier from being deleted: machines bound to it, and auth and
    sync tokens that can still be used (not revoked, not expired)."""
    cur.execute(
        """SELECT
             (SELECT count(*) FROM machines WHERE tier_id = %(t)s) AS machines,
             (SELECT count(*) FROM auth_tokens WHERE tier_id = %(t)s AND revoked_at IS NULL
                 AND (valid_until IS NULL OR valid_until > now())) AS auth_tokens,
             (SELECT count(*) FROM sync_tokens WHERE tier_id = %(t)s AND revoked_at IS NULL
                 AND (valid_until IS NULL OR valid_until > now())) AS sync_tokens""",
        {"t": tier_id})
    return cur.fetchone()


def count(cur):
    cur.execute("SELECT count(*) AS n FROM tiers")
    return cur.fetchone()["n"]


def delete(cur, tier_id):
    """Deletes the tier and its patch visibility. Dead (revoked or expired) tokens
    of the tier go with it: they can never be used again, and their foreign keys
    would otherwise pin the tier forever. Call after usage() found nothing live."""
    # Only dead ones: a live token made meanwhile keeps its row, and its foreign
    # key then fails the tier's delete (the caller answers 409).
    for table in ("auth_tokens", "sync_tokens"):
        cur.execute(f"""DELETE FROM {table} WHERE tier_id = %s
                        AND (revoked_at IS NOT NULL OR valid_until <= now())""", (tier_id,))
    cur.execute("DELETE FROM tiers WHERE id = %s", (tier_id,))
    return cur.rowcount > 0


def between(cur, low_position, high_position):
    """Tiers with low < position <= high, in order."""
    cur.execute("SELECT id, name, position FROM tiers WHERE position > %s AND position <= %s ORDER BY position",
                (low_position, high_position))
    return cur.fetchall()


def up_to(cur, position):
    """Tiers with position <= the given one, in order."""
    cur.execute("SELECT id, name, position FROM tiers WHERE position <= %s ORDER BY position", (position,))
    return cur.fetchall()
