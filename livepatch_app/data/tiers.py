"""Tiers: ordered by position; the first tier receives uploads and synced patches."""


def list_all(cur):
    cur.execute("SELECT id, name, position, created_at FROM tiers ORDER BY position")
    return cur.fetchall()


def find(cur, name):
    cur.execute("SELECT id, name, position FROM tiers WHERE name = %s", (name,))
    return cur.fetchone()


def first(cur):
    cur.execute("SELECT id, name, position FROM tiers ORDER BY position LIMIT 1")
    return cur.fetchone()
