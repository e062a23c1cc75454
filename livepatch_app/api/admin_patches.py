"""Admin patch endpoints: upload, list, delete, promote a version, blocklist."""

from flask import Blueprint, jsonify, request

from .. import context
from ..auth import admin_required
from ..body_limits import streams_body
from ..data import blocklist, patches, tiers
from ..errors import BadRequest, NotFound, TooLarge
from ..ingest import ingest_patch, parse_name
from .catalogue import find_tier, normalise_version, paged_patches, patch_json
from .common import field, format_time, json_body, known_fields

bp = Blueprint("admin_patches", __name__)

MIB = 1024 * 1024
MAX_REASON = 500


@bp.after_request
def _forget_download_lookups(response):
    """This process's next download sees the change at once (other processes and units
    empty their cache when PostgreSQL's notification arrives: download_index.py)."""
    if request.method not in ("GET", "HEAD"):
        context.services().download_index.forget()
    return response


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
