"""What sync reads and writes of the patch catalogue: the snapshot a sync token's
tier may see (upstream side), which files we do not hold yet and the blocklist
entries that mirror upstream's (downstream side). Patch rows themselves are
written only by ingest (livepatch_app/ingest.py)."""


def snapshot_json(cur, tier_name, tier_id, flavours=None, architectures=None, minimum_kernel=None):
    """The snapshot document as JSON text: {"tier", "patches": the unblocked patches visible
    in the tier, each with every tier it is in, "blocklist"}. PostgreSQL writes it (json_agg
    of rows: keys in column order): a row per patch built in Python cost more than the
    rest of a no-change sync together.
    `minimum_kernel` is a list of ints ([5, 4, 0]); None means no filter."""
    cur.execute(
        """SELECT json_build_object(
             'tier', %(tier_name)s::text,
             'patches', COALESCE((
               SELECT json_agg(s ORDER BY s.filename) FROM (
                 SELECT p.filename, p.kernel, p.flavour, p.version, p.architecture, p.sha256::text AS sha256,
                        p.size, ARRAY(SELECT t.name FROM patch_tiers x JOIN tiers t ON t.id = x.tier_id
                                      WHERE x.patch_id = p.id ORDER BY t.position) AS tiers
                 FROM patch_tiers pt JOIN patches p ON p.id = pt.patch_id
                 WHERE pt.tier_id = %(tier_id)s
                   AND NOT EXISTS (SELECT 1 FROM blocklist b WHERE b.filename = p.filename)
                   AND (%(flavours)s::text[] IS NULL OR p.flavour = ANY(%(flavours)s::text[]))
                   AND (%(arches)s::text[] IS NULL OR p.architecture = ANY(%(arches)s::text[]))
                   AND (%(minimum)s::int[] IS NULL
                        OR string_to_array(p.kernel_base, '.')::int[] >= %(minimum)s::int[])) s), '[]'),
             'blocklist', COALESCE((
               SELECT json_agg(b ORDER BY b.filename) FROM (SELECT filename, reason FROM blocklist) b), '[]')
           )::text AS body""",
        {"tier_name": tier_name, "tier_id": tier_id, "flavours": flavours, "arches": architectures,
         "minimum": minimum_kernel})
    return cur.fetchone()["body"]


def blocklist(cur):
    cur.execute("SELECT filename, reason FROM blocklist ORDER BY filename")
    return cur.fetchall()


def not_held(cur, patches):
    """Of `patches` ({"filename", "sha256"} dicts), those we hold not, or with other bytes:
    {filename: our sha256 or None}. One statement: a no-change sync gets nothing back."""
    cur.execute(
        """SELECT u.filename, p.sha256::text AS sha256
           FROM unnest(%s::text[], %s::text[]) AS u (filename, sha256)
           LEFT JOIN patches p ON p.filename = u.filename
           WHERE p.id IS NULL OR p.sha256::text <> u.sha256""",
        ([p["filename"] for p in patches], [p["sha256"] for p in patches]))
    return {row["filename"]: row["sha256"] for row in cur.fetchall()}


def mirror_upstream_blocklist(cur, entries):
    """Make our upstream-sourced blocklist entries exactly `entries` ({filename: reason}).
    A local entry for the same name stays local. -> (added, removed) counts."""
    names = sorted(entries)
    cur.execute("DELETE FROM blocklist WHERE source = 'upstream' AND NOT (filename = ANY(%s::text[]))", (names,))
    removed = cur.rowcount
    cur.execute(
        """INSERT INTO blocklist (filename, reason, source)
           SELECT u.filename, u.reason, 'upstream' FROM unnest(%s::text[], %s::text[]) AS u (filename, reason)
           ON CONFLICT (filename) DO UPDATE SET reason = EXCLUDED.reason
           WHERE blocklist.source = 'upstream' AND blocklist.reason <> EXCLUDED.reason
           RETURNING (xmax = 0) AS inserted""",
        (names, [entries[name] for name in names]))
    added = sum(1 for row in cur.fetchall() if row["inserted"])
    return added, removed
