"""Admin tier endpoints: list, create, delete, a tier's patches, promote-all."""

import re

import psycopg2.errors
from flask import Blueprint, jsonify

from .. import context
from ..auth import admin_required
from ..data import patches, tiers
from ..errors import BadRequest, Conflict
from .catalogue import find_tier, paged_patches
from .common import field, format_time, json_body, known_fields

bp = Blueprint("admin_tiers", __name__)

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def _tier_json(row, index):
    return {"name": row["name"], "position": index, "patches": row["patches"], "machines": row["machines"],
            "created-at": format_time(row["created_at"])}


@bp.get("/v1/admin/tiers")
@admin_required
def list_tiers():
    with context.db().transaction() as cur:
        rows = tiers.list_with_counts(cur)
    return jsonify({"tiers": [_tier_json(row, i + 1) for i, row in enumerate(rows)]})


@bp.post("/v1/admin/tiers")
@admin_required
def create_tier():
    body = json_body()
    known_fields(body, "name", "after")
    name = field(body, "name", str, required=True)
    after_name = field(body, "after", str)
    if not _NAME_RE.fullmatch(name):
        raise BadRequest("a tier name is 1 to 63 lower-case letters, digits and dashes, "
                         "starting with a letter or digit", "invalid-tier-name")
    try:
        with context.db().transaction() as cur:
            tiers.lock(cur)
            after = find_tier(cur, after_name) if after_name is not None else None
            created = tiers.create(cur, name, after)
            if created is None:
                raise Conflict(f"tier {name!r} exists", "tier-exists")
            rows = tiers.list_with_counts(cur)
    except psycopg2.errors.UniqueViolation:  # created by another unit at the same moment
        raise Conflict(f"tier {name!r} exists", "tier-exists") from None
    index = next(i for i, row in enumerate(rows) if row["id"] == created["id"])
    return jsonify(_tier_json(rows[index], index + 1)), 201


@bp.delete("/v1/admin/tiers/<name>")
@admin_required
def delete_tier(name):
    try:
        with context.db().transaction() as cur:
            tiers.lock(cur)
            tier = find_tier(cur, name)
            if tiers.count(cur) <= 1:
                raise Conflict("the last tier cannot be deleted: patches and machines need one", "last-tier")
            usage = tiers.usage(cur, tier["id"])
            users = [f"{usage[key]} {label}" for key, label in (
                ("machines", "machine(s)"), ("auth_tokens", "auth token(s)"), ("sync_tokens", "sync token(s)"))
                if usage[key]]
            if users:
                raise Conflict(f"tier {name!r} is in use by {', '.join(users)}: move or revoke them first",
                               "tier-in-use")
            tiers.delete(cur, tier["id"])
    except psycopg2.errors.ForeignKeyViolation:  # something started using it meanwhile
        raise Conflict(f"tier {name!r} is in use: move or revoke what uses it first", "tier-in-use") from None
    return jsonify({"name": name, "deleted": True})


@bp.get("/v1/admin/tiers/<name>/patches")
@admin_required
def tier_patches(name):
    with context.db().transaction() as cur:
        tier = find_tier(cur, name)
        body = paged_patches(cur, tier_id=tier["id"])
    body["tier"] = tier["name"]
    return jsonify(body)


@bp.post("/v1/admin/tiers/<name>/promote-all")
@admin_required
def promote_all(name):
    body = json_body()
    known_fields(body, "to")
    to_name = field(body, "to", str, required=True)
    with context.db().transaction() as cur:
        source = find_tier(cur, name)
        target = find_tier(cur, to_name)
        if target["position"] < source["position"]:
            # 409: both names are valid; the order of the tiers forbids it.
            raise Conflict(f"tier {to_name!r} comes before {name!r}: promotion goes forward only",
                           "invalid-promotion")
        added = patches.promote_all(cur, source["id"], source["position"], target["position"])
        names = [t["name"] for t in tiers.between(cur, source["position"], target["position"])]
    return jsonify({"from": source["name"], "to": target["name"], "tiers": names, "added": added})
