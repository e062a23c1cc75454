"""Admin: client auth tokens (the known `auth-token <label> <tier>` command).

A token enables machines on its tier. It is shown once, in the answer that
creates it. Revoking (or expiry) stops new enables only: machines already
enabled keep their machine tokens; forget a machine to cut it off.
"""

import re

from flask import Blueprint, g, jsonify

from .. import context
from ..auth import admin_required
from ..data import auth_tokens, tiers
from ..errors import BadRequest, Conflict, NotFound
from ..tokens import new_token, token_hash
from .common import field, format_time, json_body, known_fields, parse_time

bp = Blueprint("admin_tokens", __name__)

# Labels appear in URLs (DELETE /v1/admin/auth-tokens/{id}): keep them path-safe.
LABEL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")  # used with fullmatch


def _token_json(row):
    """The token's public facts: never its secret nor the hash."""
    return {
        "id": row["label"],
        "tier": row["tier"],
        "created": format_time(row["created_at"]),
        "created-by": row["created_by"],
        "valid-until": format_time(row["valid_until"]),
        "max-machines": row["max_machines"],
        "machines-enabled": row["machines_enabled"],
        "expired": row["expired"],
        "revoked": row["revoked_at"] is not None,
        "revoked-at": format_time(row["revoked_at"]),
    }


@bp.post("/v1/admin/auth-token")
@admin_required
def create_token():
    body = json_body()
    known_fields(body, "id", "tier", "valid-until", "max-machines")
    label = field(body, "id", required=True)
    if not LABEL_RE.fullmatch(label):
        raise BadRequest("'id' must be 1-128 letters, digits or . _ : @ - (starting with a letter or digit)",
                         "invalid-field")
    tier_name = field(body, "tier", required=True)
    # A time already past is allowed: the token is born expired (the list says so).
    # Refusing it made a schema-valid request fail on the clock alone.
    valid_until = parse_time(field(body, "valid-until"), "valid-until")
    max_machines = field(body, "max-machines", kind=int)
    if max_machines is not None and not 1 <= max_machines <= 2**31 - 1:
        raise BadRequest("'max-machines' must be a positive whole number", "invalid-field")
    token = new_token()
    with context.db().transaction() as cur:
        tier = tiers.find(cur, tier_name)
        if tier is None:
            raise NotFound(f"no tier named {tier_name!r}", "tier-not-found")
        row = auth_tokens.create(cur, label, token_hash(token), tier["id"], g.admin_user,
                                 valid_until, max_machines)
    if row is None:
        raise Conflict(f"an auth token labelled {label!r} already exists", "token-exists")
    # 200, not 201: the known admin client talks to this path.
    return jsonify({"token": token, "id": row["label"], "tier": row["tier"],
                    "valid-until": format_time(row["valid_until"]), "max-machines": row["max_machines"]})


@bp.get("/v1/admin/auth-tokens")
@admin_required
def list_tokens():
    with context.db().transaction() as cur:
        rows = auth_tokens.list_all(cur)
    return jsonify({"auth-tokens": [_token_json(row) for row in rows]})


@bp.delete("/v1/admin/auth-tokens/<label>")
@admin_required
def revoke_token(label):
    with context.db().transaction() as cur:
        row = auth_tokens.revoke(cur, label)
    if row is None:
        raise NotFound(f"no auth token labelled {label!r}", "token-not-found")
    return jsonify(_token_json(row))
