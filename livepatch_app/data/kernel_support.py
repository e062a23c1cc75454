"""What the patch catalogue says about a kernel series: the distinct kernels that
have an unblocked patch for one flavour and architecture (GET /v1/api/kernels/supported)."""


def kernels_with_patches(cur, flavour, architecture):
    """[(kernel_base, abi, build)] of unblocked patches for this flavour and arch."""
    cur.execute(
        """SELECT DISTINCT p.kernel_base, p.abi, p.build FROM patches p
           WHERE p.flavour = %s AND p.architecture = %s
             AND NOT EXISTS (SELECT 1 FROM blocklist b WHERE b.filename = p.filename)""",
        (flavour, architecture),
    )
    return [(row["kernel_base"], row["abi"], row["build"]) for row in cur.fetchall()]


# TEMPORARY until data/patches.py (patches area) provides newest_offer: same
# signature, removed as soon as it lands.
def newest_offer(cur, tier_id, kernel, flavour, architecture):
    cur.execute(
        """SELECT p.filename, p.version, p.kernel, p.flavour, p.architecture, p.sha256, p.size
           FROM patches p JOIN patch_tiers pt ON pt.patch_id = p.id AND pt.tier_id = %s
           WHERE p.kernel = %s AND p.flavour = %s AND p.architecture = %s
             AND NOT EXISTS (SELECT 1 FROM blocklist b WHERE b.filename = p.filename)
           ORDER BY p.version_major DESC, p.version_minor DESC LIMIT 1""",
        (tier_id, kernel, flavour, architecture),
    )
    return cur.fetchone()
