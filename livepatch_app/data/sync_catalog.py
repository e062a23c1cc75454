"""What sync reads and writes of the patch catalogue: the snapshot a sync token's
tier may see (upstream side), which files we already hold and the blocklist
entries that mirror upstream's (downstream side). Patch rows themselves are
written only by ingest (livepatch_app/ingest.py)."""


def snapshot(cur, tier_id, flavours=None, architectures=None, minimum_kernel=None):
    """Unblocked patches visible in the tier, each with every tier it is in.
    `minimum_kernel` is a list of ints ([5, 4, 0]); None means no filter."""
    cur.execute(
        """SELECT p.filename, p.version, p.kernel, p.flavour, p.architecture, p.sha256, p.size,
                  ARRAY(SELECT t.name FROM patch_tiers x JOIN tiers t ON t.id = x.tier_id
                        WHERE x.patch_id = p.id ORDER BY t.position) AS tiers
           FROM patch_tiers pt JOIN patches p ON p.id = pt.patch_id
           WHERE pt.tier_id = %(tier_id)s
             AND NOT EXISTS (SELECT 1 FROM blocklist b WHERE b.filename = p.filename)
             AND (%(flavours)s::text[] IS NULL OR p.flavour = ANY(%(flavours)s::text[]))
             AND (%(arches)s::text[] IS NULL OR p.architecture = ANY(%(arches)s::text[]))
             AND (%(minimum)s::int[] IS NULL
                  OR string_to_array(p.kernel_base, '.')::int[] >= %(minimum)s::int[])
           ORDER BY p.filename""",
        {"tier_id": tier_id, "flavours": flavours, "arches": architectures, "minimum": minimum_kernel})
    return cur.fetchall()


def blocklist(cur):
    cur.execute("SELECT filename, reason FROM blocklist ORDER BY filename")
    return cur.fetchall()


def held_patches(cur, filenames):
    """{filename: sha256} of those names we already hold (unique index on filename)."""
    cur.execute("SELECT filename, sha256 FROM patches WHERE filename = ANY(%s::text[])", (list(filenames),))
    return {row["filename"]: row["sha256"].strip() for row in cur.fetchall()}


def mirror_upstream_blocklist(cur, entries):
    """Make our upstream-sourced blocklist entries exactly `entries` ({filename: reason}).
    A local entry for the same name stays local. -> (added, removed) counts."""
    names = sorted(entries)
    cur.execute("DELETE FROM blocklist WHERE source = 'upstream' AND NOT (filename = ANY(%s::text[]))", (names,))
    removed = cur.rowcount
    added = 0
    for name in names:
        cur.execute(
            """INSERT INTO blocklist (filename, reason, source) VALUES (%s, %s, 'upstream')
               ON CONFLICT (filename) DO UPDATE SET reason = EXCLUDED.reason
               WHERE blocklist.source = 'upstream' AND blocklist.reason <> EXCLUDED.reason
               RETURNING (xmax = 0) AS inserted""",
            (name, entries[name]))
        row = cur.fetchone()
        added += 1 if row and row["inserted"] else 0
    return added, removed
