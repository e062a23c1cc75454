"""Admin: sync tokens (upstream side), the deployments that report to us, the
sync trigger and run reports (downstream side), and the air-gapped storage refresh."""

import re
from datetime import datetime, timezone

from flask import Blueprint, current_app, jsonify, request

from .. import context, import_folder
from ..auth import admin_required
from ..data import deployments, sync_runs, sync_tokens, tiers
from ..errors import BadRequest, Conflict, NotFound, Unavailable
from ..sync import runner
from ..sync_status import run_json
from ..tokens import new_token, token_hash
from .common import field, format_time, json_body, known_fields, pagination, parse_time, query_int

bp = Blueprint("admin_sync", __name__)

# Names appear in URLs (DELETE /v1/admin/sync-tokens/{name}): keep them path-safe.
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")  # used with fullmatch
# How long `{"wait": true}` waits for a run already in progress before 409.
TRIGGER_WAIT_SECONDS = 300


def _token_json(row):
    """A sync token's public facts: never the secret nor its hash."""
    now = datetime.now(timezone.utc)
    return {
        "name": row["name"],
        "tier": row["tier"],
        "created": format_time(row["created_at"]),
        "valid-until": format_time(row["valid_until"]),
        "expired": row["valid_until"] is not None and row["valid_until"] <= now,
        "revoked": row["revoked_at"] is not None,
        "revoked-at": format_time(row["revoked_at"]),
    }


@bp.after_request
def _forget_download_lookups(response):
    """A sync run or a storage refresh may have changed patches and blocks: this
    process's next download sees them at once (see admin_patches)."""
    if request.method == "POST":
        context.services().download_index.forget()
    return response


@bp.post("/v1/admin/sync-tokens")
@admin_required
def create_sync_token():
    body = json_body()
    known_fields(body, "name", "tier", "valid-until")
    name = field(body, "name", required=True)
    if not NAME_RE.fullmatch(name):
        raise BadRequest("'name' must be 1-128 letters, digits or . _ : @ - (starting with a letter or digit)",
                         "invalid-field")
    tier_name = field(body, "tier", required=True)
    # A time already past is allowed: the token is born expired (the list says so).
    # Refusing it made a schema-valid request fail on the clock alone.
    valid_until = parse_time(field(body, "valid-until"), "valid-until")
    token = new_token()
    with context.db().transaction() as cur:
        tier = tiers.find(cur, tier_name)
        if tier is None:
            raise NotFound(f"no tier named {tier_name!r}", "tier-not-found")
        row = sync_tokens.create(cur, name, token_hash(token), tier["id"], valid_until)
    if row is None:
        raise Conflict(f"a sync token named {name!r} already exists: revoke it first", "token-exists")
    return jsonify({"token": token, "name": row["name"], "tier": tier["name"],
                    "created": format_time(row["created_at"]), "valid-until": format_time(row["valid_until"])})


@bp.get("/v1/admin/sync-tokens")
@admin_required
def list_sync_tokens():
    with context.db().transaction() as cur:
        rows = sync_tokens.list_all(cur)
    return jsonify({"sync-tokens": [_token_json(row) for row in rows]})


@bp.delete("/v1/admin/sync-tokens/<name>")
@admin_required
def revoke_sync_token(name):
    with context.db().transaction() as cur:
        revoked = sync_tokens.revoke(cur, name)
    if not revoked:
        raise NotFound(f"no active sync token named {name!r}", "token-not-found")
    return jsonify({"name": name, "revoked": True})


@bp.get("/v1/admin/sync/deployments")
@admin_required
def list_deployments():
    limit, offset = pagination()
    with context.db().transaction() as cur:
        rows = deployments.list_all(cur, limit, offset)
    return jsonify({"deployments": [{
        "deployment-id": row["deployment_id"],
        "sync-token": row["sync_token"],
        "machine-count": row["machine_count"],
        "exact": row["exact"],
        "reported": format_time(row["reported_at"]),
    } for row in rows]})


@bp.post("/v1/admin/sync/trigger")
@admin_required
def trigger_sync():
    body = json_body(optional=True)
    known_fields(body, "wait")
    wait = field(body, "wait", kind=bool, default=False)
    svc = context.services(current_app)
    try:
        if wait:
            return jsonify(run_json(runner.run_now(svc, "manual", wait_seconds=TRIGGER_WAIT_SECONDS)))
        run = runner.run_in_background(svc, "manual")
    except runner.SyncDisabled as exc:
        # 409, not 400: the request is valid, the server's settings refuse it for now.
        raise Conflict(str(exc), "sync-disabled") from None
    except runner.SyncBusy:
        raise Conflict("a sync run is already in progress", "sync-running") from None
    return jsonify(run_json(run)), 202


@bp.get("/v1/admin/sync/reports")
@admin_required
def sync_reports():
    limit = query_int("limit", 20, 1, 1000)
    with context.db().transaction() as cur:
        rows = sync_runs.recent(cur, limit)
    return jsonify({"runs": [run_json(row) for row in rows]})


@bp.post("/v1/admin/storage/refresh")
@admin_required
def storage_refresh():
    try:
        result = import_folder.refresh(context.config(), context.db(), context.store())
    except runner.SyncBusy:
        raise Conflict("a storage refresh is already in progress", "refresh-running") from None
    except OSError as exc:
        raise Unavailable(f"cannot read the import folder {import_folder.folder_for(context.config())}: "
                          f"{exc.strerror}", "import-folder-unavailable") from None
    return jsonify(result)
