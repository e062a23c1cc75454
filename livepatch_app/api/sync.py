"""Server-to-server sync, upstream side (our protocol; the real service's is closed).

A downstream server presents a sync token (POST /v1/admin/sync-tokens) as Bearer;
the token's tier bounds what it sees. Pro resource tokens are for Canonical's
upstream: this server cannot check one offline, so it accepts only sync tokens.
Patch files download from the public /v1/patches/{filename} view (the downstream
sends its token there too, as it would to an upstream that checks it).
"""

import re
import uuid

from flask import Blueprint, current_app, jsonify, request

from .. import context
from ..auth import bearer_token, security_event
from ..auth_throttle import attempt
from ..data import deployments, sync_catalog, sync_tokens
from ..errors import BadRequest, Unauthorized
from ..sync.machine_count import bucket
from ..tokens import token_hash
from .common import field, format_time, json_body

bp = Blueprint("sync", __name__)

# Used with fullmatch ("$" alone lets a trailing newline in). ASCII digits only
# (\d takes any Unicode digit), at most 9 each: as the OpenAPI document says.
_NAME_LIST_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_KERNEL_VERSION_RE = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,9}){0,2}")
_DEPLOYMENT_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}")
MAX_MACHINE_COUNT = 2**31 - 1


def _is_uuid(text):
    try:
        uuid.UUID(text)
        return True
    except ValueError:
        return False


def sync_token_required():
    """The valid sync token row of the request, or 401 saying why not. A token sent in
    vain counts against the source like a client token (auth_throttle.py)."""
    token = bearer_token()
    if token is None:
        security_event("authn_failed", reason="no sync token")
        raise Unauthorized("a sync token is required: Authorization: Bearer <sync token>", "missing-credentials",
                           headers={"WWW-Authenticate": 'Bearer realm="livepatch-sync"'})
    with attempt("client") as checking:
        with context.db().transaction() as cur:
            row = sync_tokens.find_by_hash(cur, token_hash(token))
        if row is None or row["revoked_at"] is not None or row["expired"]:
            checking.failed()
        else:
            checking.succeeded()
    if row is None:
        security_event("authn_failed", reason="unknown sync token")
        if not _is_uuid(token):
            raise Unauthorized("this server accepts only sync tokens (made with POST /v1/admin/sync-tokens); "
                               "a Pro resource token is for Canonical's upstream", "invalid-token")
        raise Unauthorized("unknown sync token", "invalid-token")
    if row["revoked_at"] is not None:
        security_event("authn_failed", reason="revoked sync token", sync_token=row["name"])
        raise Unauthorized(f"the sync token was revoked at {format_time(row['revoked_at'])}", "invalid-token")
    if row["expired"]:
        security_event("authn_failed", reason="expired sync token", sync_token=row["name"])
        raise Unauthorized(f"the sync token expired at {format_time(row['valid_until'])}", "invalid-token")
    return row


def _query_list(name):
    items = [item.strip() for item in request.args.get(name, "").split(",") if item.strip()]
    for item in items:
        # No length cap: the document cannot say one per item, and a long name just matches nothing.
        if not _NAME_LIST_RE.fullmatch(item):
            raise BadRequest(f"query parameter '{name}' must be a comma-separated list of names", "invalid-query")
    return items or None


def _minimum_kernel():
    text = request.args.get("minimum-kernel-version", "").strip()
    if not text:
        return None
    if not _KERNEL_VERSION_RE.fullmatch(text):
        raise BadRequest("query parameter 'minimum-kernel-version' must look like 5.4 or 5.15.0 "
                         "(numbers of at most 9 digits)", "invalid-query")
    parts = [int(part) for part in text.split(".")]
    return parts + [0] * (3 - len(parts))


@bp.get("/v1/sync/snapshot")
def snapshot():
    token = sync_token_required()
    flavours, architectures, minimum = _query_list("flavours"), _query_list("architectures"), _minimum_kernel()
    with context.db().transaction() as cur:
        body = sync_catalog.snapshot_json(cur, token["tier"], token["tier_id"], flavours, architectures, minimum)
    return current_app.response_class(body, mimetype="application/json")


@bp.post("/v1/sync/report")
def report():
    token = sync_token_required()
    body = json_body()
    deployment_id = field(body, "deployment-id", required=True)
    if not _DEPLOYMENT_ID_RE.fullmatch(deployment_id):
        raise BadRequest("'deployment-id' must be 1-200 letters, digits or . _ : @ -", "invalid-field")
    count = field(body, "machine-count", kind=int, required=True)
    if not 0 <= count <= MAX_MACHINE_COUNT:
        raise BadRequest("'machine-count' must be a whole number from 0", "invalid-field")
    exact = field(body, "exact", kind=bool, default=False)
    with context.db().transaction() as cur:
        row = deployments.record(cur, deployment_id, token["id"], count if exact else bucket(count), exact)
    return jsonify({"deployment-id": row["deployment_id"], "machine-count": row["machine_count"],
                    "exact": row["exact"], "reported": format_time(row["reported_at"])})
