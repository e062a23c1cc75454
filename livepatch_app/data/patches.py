"""Patch rows, their tier visibility, and the lookups the hot paths run.

A row is returned as a dict with every column of `patches` plus `tiers` (names,
in tier order) and `blocked` (its file name is on the blocklist)."""

import psycopg2.extras

_ROW = """p.id, p.filename, p.kernel, p.kernel_base, p.abi, p.build, p.flavour, p.version,
    p.version_major, p.version_minor, p.architecture, p.sha256, p.size, p.storage_key,
    p.source, p.created_at,
    ARRAY(SELECT t.name FROM patch_tiers pt JOIN tiers t ON t.id = pt.tier_id
          WHERE pt.patch_id = p.id ORDER BY t.position) AS tiers,
    EXISTS (SELECT 1 FROM blocklist b WHERE b.filename = p.filename) AS blocked"""

# The plain columns, for hot paths that need no tier list.
_PLAIN = """p.id, p.filename, p.kernel, p.kernel_base, p.abi, p.build, p.flavour, p.version,
    p.version_major, p.version_minor, p.architecture, p.sha256, p.size, p.storage_key,
    p.source, p.created_at"""

# Kernel order (numeric X.Y.Z, ABI, build), then flavour, arch and patch version.
_ORDER = """string_to_array(p.kernel_base, '.')::int[], p.abi, p.build, p.flavour,
    p.architecture, p.version_major, p.version_minor, p.id"""


def find(cur, filename):
    cur.execute(f"SELECT {_ROW} FROM patches p WHERE p.filename = %s", (filename,))
    return cur.fetchone()


def find_for_download(cur, filename):
    """Just what a download needs, one indexed lookup: sha256, size, storage_key, blocked."""
    cur.execute(
        """SELECT p.filename, p.sha256, p.size, p.storage_key,
                  EXISTS (SELECT 1 FROM blocklist b WHERE b.filename = p.filename) AS blocked
           FROM patches p WHERE p.filename = %s""",
        (filename,))
    return cur.fetchone()


def insert_many(cur, items, source):
    """Inserts rows for (PatchName, sha256, size, storage_key) items in one statement
    -> {filename: (id, storage_key)} of the rows made; a name that exists already
    (also one committed concurrently) is skipped."""
    if not items:
        return {}
    rows = psycopg2.extras.execute_values(
        cur,
        """INSERT INTO patches (filename, kernel, kernel_base, abi, build, flavour, version,
                                version_major, version_minor, architecture, sha256, size,
                                storage_key, source)
           VALUES %s
           ON CONFLICT (filename) DO NOTHING
           RETURNING id, filename, storage_key""",
        [(n.filename, n.kernel, n.kernel_base, n.abi, n.build, n.flavour, n.version, n.version_major,
          n.version_minor, n.architecture, sha256, size, key, source) for n, sha256, size, key in items],
        page_size=len(items), fetch=True)
    return {row["filename"]: (row["id"], row["storage_key"]) for row in rows}


def add_many_to_tier(cur, patch_ids, tier_id):
    if patch_ids:
        cur.execute("""INSERT INTO patch_tiers (patch_id, tier_id) SELECT unnest(%s::bigint[]), %s
                       ON CONFLICT DO NOTHING""", (list(patch_ids), tier_id))


def sha256_by_name(cur, filenames):
    """{filename: sha256} of those names that have a row (one indexed lookup)."""
    if not filenames:
        return {}
    cur.execute("SELECT filename, sha256 FROM patches WHERE filename = ANY(%s::text[])", (list(filenames),))
    return {row["filename"]: row["sha256"].strip() for row in cur.fetchall()}


def delete(cur, filename):
    """Deletes the row (its tier links cascade); returns its storage key or None."""
    cur.execute("DELETE FROM patches WHERE filename = %s RETURNING storage_key", (filename,))
    row = cur.fetchone()
    return None if row is None else row["storage_key"]


def storage_keys(cur):
    cur.execute("SELECT storage_key FROM patches")
    return {row["storage_key"] for row in cur.fetchall()}


def stored_bytes(cur):
    """Every patch's id, filename, sha256, size and storage_key, by filename (storage adopt)."""
    cur.execute("SELECT id, filename, sha256, size, storage_key FROM patches ORDER BY filename")
    return cur.fetchall()


def repoint(cur, patch_id, old_key, new_key):
    """Points a patch at a copy of its bytes, only if it still points at old_key
    -> whether it did (not when it was deleted or moved meanwhile)."""
    cur.execute("UPDATE patches SET storage_key = %s WHERE id = %s AND storage_key = %s",
                (new_key, patch_id, old_key))
    return cur.rowcount > 0


def _filters(tier_id=None, kernel=None, flavour=None, architecture=None, version=None, blocked=None):
    clauses, params = [], []
    if tier_id is not None:
        clauses.append("EXISTS (SELECT 1 FROM patch_tiers pt WHERE pt.patch_id = p.id AND pt.tier_id = %s)")
        params.append(tier_id)
    for column, value in (("kernel", kernel), ("flavour", flavour), ("architecture", architecture),
                          ("version", version)):
        if value is not None:
            clauses.append(f"p.{column} = %s")
            params.append(value)
    if blocked is not None:
        clauses.append(("" if blocked else "NOT ") + "EXISTS (SELECT 1 FROM blocklist b WHERE b.filename = p.filename)")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def list_filtered(cur, limit=100, offset=0, **filters):
    """-> (rows, total). Filters: tier_id, kernel, flavour, architecture, version, blocked."""
    where, params = _filters(**filters)
    cur.execute(f"SELECT count(*) AS n FROM patches p{where}", params)
    total = cur.fetchone()["n"]
    cur.execute(f"SELECT {_ROW} FROM patches p{where} ORDER BY {_ORDER} LIMIT %s OFFSET %s",
                params + [limit, offset])
    return cur.fetchall(), total


def newest_offer_sql(tier, columns=_PLAIN):
    """The newest (highest version_major, version_minor) unblocked patch for a kernel
    ('5.15.0-107.117'), flavour and architecture (named parameters offer_kernel,
    offer_flavour, architecture) visible in `tier`, an SQL expression: a parameter
    here, the machine's own tier in data/check_ins.py's statement. patches_match_idx
    finds the few candidates, the patch_tiers and blocklist primary keys check each."""
    return f"""SELECT {columns} FROM patches p
    WHERE p.kernel = %(offer_kernel)s AND p.flavour = %(offer_flavour)s AND p.architecture = %(architecture)s
      AND EXISTS (SELECT 1 FROM patch_tiers pt WHERE pt.patch_id = p.id AND pt.tier_id = {tier})
      AND NOT EXISTS (SELECT 1 FROM blocklist b WHERE b.filename = p.filename)
    ORDER BY p.version_major DESC, p.version_minor DESC, p.id DESC
    LIMIT 1"""


NEWEST_OFFER = newest_offer_sql("%(tier_id)s")


def newest_offer(cur, tier_id, kernel, flavour, architecture):
    """NEWEST_OFFER's row (filename, version, kernel, sha256, size, ...) or None."""
    cur.execute(NEWEST_OFFER, {"offer_kernel": kernel, "offer_flavour": flavour, "architecture": architecture,
                               "tier_id": tier_id})
    return cur.fetchone()


def exists_kernel(cur, kernel, flavour, architecture, tier_id=None):
    """Is there an unblocked patch for exactly this kernel ('5.15.0-107.117'),
    flavour and architecture (visible in tier_id when given)?"""
    tier_clause = ("AND EXISTS (SELECT 1 FROM patch_tiers pt WHERE pt.patch_id = p.id AND pt.tier_id = %s)"
                   if tier_id is not None else "")
    params = [kernel, flavour, architecture] + ([tier_id] if tier_id is not None else [])
    cur.execute(
        f"""SELECT EXISTS (SELECT 1 FROM patches p
                WHERE p.kernel = %s AND p.flavour = %s AND p.architecture = %s
                  AND NOT EXISTS (SELECT 1 FROM blocklist b WHERE b.filename = p.filename)
                  {tier_clause}) AS found""",
        params)
    return cur.fetchone()["found"]


def newest_kernel(cur, kernel_base, flavour, architecture):
    """The newest patched kernel of a series: {'abi', 'build', 'kernel'} with the
    highest (abi, build) among unblocked patches for that X.Y.Z base, flavour
    and architecture, or None. (Indexed by patches_series_idx.)"""
    cur.execute(
        """SELECT p.abi, p.build, p.kernel FROM patches p
           WHERE p.kernel_base = %s AND p.flavour = %s AND p.architecture = %s
             AND NOT EXISTS (SELECT 1 FROM blocklist b WHERE b.filename = p.filename)
           ORDER BY p.abi DESC, p.build DESC LIMIT 1""",
        (kernel_base, flavour, architecture))
    return cur.fetchone()


def newest_versions(cur):
    """{tier_id: the highest patch version visible in that tier and not blocked}, for
    the tiers that have one."""
    cur.execute(
        """SELECT DISTINCT ON (pt.tier_id) pt.tier_id, p.version
           FROM patch_tiers pt JOIN patches p ON p.id = pt.patch_id
           WHERE NOT EXISTS (SELECT 1 FROM blocklist b WHERE b.filename = p.filename)
           ORDER BY pt.tier_id, p.version_major DESC, p.version_minor DESC""")
    return {row["tier_id"]: row["version"] for row in cur.fetchall()}


def count_version(cur, version):
    cur.execute("SELECT count(*) AS n FROM patches WHERE version = %s", (version,))
    return cur.fetchone()["n"]


def promote_version(cur, version, position):
    """Makes every patch of `version` visible in every tier up to `position`
    (inclusive); returns how many new (patch, tier) links were made."""
    cur.execute(
        """INSERT INTO patch_tiers (patch_id, tier_id)
           SELECT p.id, t.id FROM patches p CROSS JOIN tiers t
           WHERE p.version = %s AND t.position <= %s
           ON CONFLICT DO NOTHING""",
        (version, position))
    return cur.rowcount


def promote_all(cur, from_tier_id, from_position, to_position):
    """Makes every patch visible in tier `from` visible in every tier after it up
    to `to_position` (inclusive); returns how many new links were made."""
    cur.execute(
        """INSERT INTO patch_tiers (patch_id, tier_id)
           SELECT pt.patch_id, t.id FROM patch_tiers pt CROSS JOIN tiers t
           WHERE pt.tier_id = %s AND t.position > %s AND t.position <= %s
           ON CONFLICT DO NOTHING""",
        (from_tier_id, from_position, to_position))
    return cur.rowcount
