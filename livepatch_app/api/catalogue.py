"""View helpers shared by the patch catalogue's blueprints (admin patches, tiers,
the sync snapshot): the JSON shapes of a patch, list filters and paging, tier lookup."""

import re

from flask import request

from ..data import patches, tiers
from ..errors import BadRequest, NotFound
from ..patchname import InvalidName, parse_kernel
from .common import format_time, pagination

# ASCII digits; at most 9 where a number is an integer column (as in patchname).
_VERSION_RE = re.compile(r"^([0-9]{1,9})\.([0-9]{1,9})$")
_KERNEL_RE = re.compile(r"^[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9}-[0-9]{1,9}\.[0-9]{1,9}$")


def patch_summary(row):
    """What identifies a patch file and where it is visible (also the sync snapshot's shape)."""
    return {
        "filename": row["filename"],
        "kernel": row["kernel"],
        "flavour": row["flavour"],
        "version": row["version"],
        "architecture": row["architecture"],
        "sha256": row["sha256"].strip(),
        "size": row["size"],
        "tiers": list(row["tiers"]),
    }


def patch_json(row):
    """The public shape of a patch (list and upload answers)."""
    return {
        **patch_summary(row),
        "blocked": row["blocked"],
        "source": row["source"],
        "created-at": format_time(row["created_at"]),
    }


def normalise_version(text, where="version"):
    """'107.1' (also '107.01') -> '107.1'; 400 `invalid-version` otherwise."""
    match = _VERSION_RE.fullmatch(text or "")
    if not match:
        raise BadRequest(f"{where} must be a patch version like 107.1", "invalid-version")
    return f"{int(match[1])}.{int(match[2])}"


def find_tier(cur, name):
    tier = tiers.find(cur, name) if isinstance(name, str) else None
    if tier is None:
        raise NotFound(f"no tier named {name!r}", "tier-not-found")
    return tier


def _bool_arg(name):
    text = request.args.get(name)
    if text in (None, ""):
        return None
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise BadRequest(f"query parameter '{name}' must be true or false", "invalid-query")


def list_filters(cur):
    """Patch filters from the query string: tier, kernel, flavour, architecture, version, blocked."""
    args = request.args
    filters = {"flavour": args.get("flavour") or None, "architecture": args.get("architecture") or None,
               "blocked": _bool_arg("blocked")}
    if args.get("tier"):
        filters["tier_id"] = find_tier(cur, args["tier"])["id"]
    kernel = args.get("kernel") or None
    if kernel is not None and not _KERNEL_RE.fullmatch(kernel):
        # Also the running kernel's form, 5.15.0-107.117-generic: the flavour comes with it.
        try:
            release = parse_kernel(kernel)
        except InvalidName:
            raise BadRequest("query parameter 'kernel' must look like 5.15.0-107.117 or 5.15.0-107.117-generic",
                             "invalid-query") from None
        if filters["flavour"] not in (None, release.flavour):
            filters["nothing"] = True  # no patch has two flavours: an empty page, not an error
        kernel, filters["flavour"] = release.kernel, release.flavour
    filters["kernel"] = kernel
    if args.get("version"):
        filters["version"] = normalise_version(args["version"], "query parameter 'version'")
    return filters


def paged_patches(cur, **fixed):
    limit, offset = pagination()
    filters = list_filters(cur)
    filters.update(fixed)
    if filters.pop("nothing", False):
        rows, total = [], 0
    else:
        rows, total = patches.list_filtered(cur, limit=limit, offset=offset, **filters)
    return {"patches": [patch_json(r) for r in rows], "total": total, "limit": limit, "offset": offset}
