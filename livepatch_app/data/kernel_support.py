"""What the patch catalogue says about a kernel series: the distinct kernels that
have an unblocked patch for one flavour and architecture (GET /v1/api/kernels/supported).
Served by patches_series_idx (migration 0002)."""


def kernels_with_patches(cur, flavour, architecture):
    """[(kernel_base, abi, build)] of unblocked patches for this flavour and arch."""
    cur.execute(
        """SELECT DISTINCT p.kernel_base, p.abi, p.build FROM patches p
           WHERE p.flavour = %s AND p.architecture = %s
             AND NOT EXISTS (SELECT 1 FROM blocklist b WHERE b.filename = p.filename)""",
        (flavour, architecture),
    )
    return [(row["kernel_base"], row["abi"], row["build"]) for row in cur.fetchall()]

