"""Admin patch endpoints: upload, list, delete, promote a version, blocklist."""

import re

from flask import Blueprint, jsonify, request

from .. import context
from ..auth import admin_required
from ..body_limits import streams_body
from ..data import blocklist, patches, tiers
from ..errors import BadRequest, NotFound, TooLarge
from ..ingest import ingest_patch, parse_name
from ..patchname import InvalidName, parse_kernel
from .common import field, format_time, json_body, pagination

bp = Blueprint("admin_patches", __name__)

MIB = 1024 * 1024
# ASCII digits; at most 9 where a number is an integer column (as in patchname).
_VERSION_RE = re.compile(r"^([0-9]{1,9})\.([0-9]{1,9})$")
_KERNEL_RE = re.compile(r"^[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9}-[0-9]{1,9}\.[0-9]{1,9}$")
MAX_REASON = 500


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


def known_fields(body, *names):
    """400 `unknown-field` for a key the operation does not take: a misspelt field
    ("teir") is a mistake to report, not to ignore (the document says
    additionalProperties: false)."""
    unknown = sorted(key for key in body if key not in names)
    if unknown:
        raise BadRequest(f"unknown field {unknown[0][:64]!r}: this operation takes "
                         f"{', '.join(repr(n) for n in names)}", "unknown-field")


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


@bp.get("/v1/admin/patches")
@admin_required
def list_patches():
    with context.db().transaction() as cur:
        return jsonify(paged_patches(cur))


@bp.put("/v1/admin/patches/<filename>")
@streams_body
@admin_required
def upload(filename):
    parse_name(filename)  # a bad name is refused before any byte is read
    limit = context.config().max_upload_size * MIB
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"the upload ({request.content_length} bytes) is larger than the limit of "
                       f"{context.config().max_upload_size} MiB (max_upload_size)", "upload-too-large")
    # The limit is also counted while streaming: chunked bodies carry no length.
    patch, created = ingest_patch(context.db(), context.store(), filename, request.stream,
                                  source="upload", max_bytes=limit)
    body = patch_json(patch)
    body["created"] = created
    return jsonify(body), (201 if created else 200)


@bp.delete("/v1/admin/patches/<filename>")
@admin_required
def delete(filename):
    parse_name(filename)
    with context.db().transaction() as cur:
        key = patches.delete(cur, filename)
    if key is None:
        raise NotFound(f"no patch named {filename}", "patch-not-found")
    # After the commit: a failed commit must not lose the bytes of a live patch.
    try:
        context.store().delete(key)
    except Exception:  # the sweep removes unreferenced bytes later
        pass
    return jsonify({"filename": filename, "deleted": True})


@bp.post("/v1/admin/patches/<version>/promote")
@admin_required
def promote(version):
    version = normalise_version(version)
    body = json_body()
    known_fields(body, "tier")
    tier_name = field(body, "tier", str, required=True)
    with context.db().transaction() as cur:
        tier = find_tier(cur, tier_name)
        count = patches.count_version(cur, version)
        if count == 0:
            raise NotFound(f"no patch has version {version}", "version-not-found")
        added = patches.promote_version(cur, version, tier["position"])
        names = [t["name"] for t in tiers.up_to(cur, tier["position"])]
    return jsonify({"version": version, "tier": tier["name"], "tiers": names, "patches": count, "added": added})


def _block_target(filename):
    parse_name(filename)  # blocks are by name: the file need not be stored (yet)
    with context.db().transaction() as cur:
        return patches.find(cur, filename) is not None


@bp.post("/v1/admin/patches/<filename>/block")
@admin_required
def block(filename):
    body = json_body(optional=True)
    known_fields(body, "reason")
    reason = field(body, "reason", str, default="")
    if len(reason) > MAX_REASON:
        raise BadRequest(f"'reason' must be at most {MAX_REASON} characters", "invalid-field")
    exists = _block_target(filename)
    with context.db().transaction() as cur:
        entry = blocklist.block(cur, filename, reason, source="local")
    return jsonify({"filename": filename, "blocked": True, "reason": entry["reason"], "exists": exists})


@bp.post("/v1/admin/patches/<filename>/unblock")
@admin_required
def unblock(filename):
    exists = _block_target(filename)
    with context.db().transaction() as cur:
        was_blocked = blocklist.unblock(cur, filename)
    return jsonify({"filename": filename, "blocked": False, "was-blocked": was_blocked, "exists": exists})


@bp.get("/v1/admin/blocklist")
@admin_required
def list_blocklist():
    with context.db().transaction() as cur:
        entries = blocklist.list_all(cur)
    return jsonify({"blocklist": [{"filename": e["filename"], "reason": e["reason"], "source": e["source"],
                                   "created-at": format_time(e["created_at"])} for e in entries]})
