"""The blocklist, keyed by patch file name: a block applies whether or not the
file is (yet) stored. Local blocks come from admins; upstream ones are mirrored by sync
(data/sync_catalog.py), which never touches a local entry."""


def find(cur, filename):
    cur.execute("SELECT filename, reason, source, created_at FROM blocklist WHERE filename = %s", (filename,))
    return cur.fetchone()


def is_blocked(cur, filename):
    cur.execute("SELECT EXISTS (SELECT 1 FROM blocklist WHERE filename = %s) AS blocked", (filename,))
    return cur.fetchone()["blocked"]


def block(cur, filename, reason="", source="local"):
    """Adds (or re-reasons) a block; an admin's block takes the entry over as local."""
    cur.execute(
        """INSERT INTO blocklist (filename, reason, source) VALUES (%s, %s, %s)
           ON CONFLICT (filename) DO UPDATE SET reason = EXCLUDED.reason, source = EXCLUDED.source
           RETURNING filename, reason, source, created_at""",
        (filename, reason or "", source))
    return cur.fetchone()


def unblock(cur, filename):
    """Removes the block; True when there was one."""
    cur.execute("DELETE FROM blocklist WHERE filename = %s", (filename,))
    return cur.rowcount > 0


def list_all(cur, source=None):
    if source is None:
        cur.execute("SELECT filename, reason, source, created_at FROM blocklist ORDER BY filename")
    else:
        cur.execute("SELECT filename, reason, source, created_at FROM blocklist WHERE source = %s ORDER BY filename",
                    (source,))
    return cur.fetchall()

