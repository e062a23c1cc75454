"""Admin: enabled machines and reports on their latest state (the known
`report machines <tier> [<version> [<state>]]` and `report patch-health <tier> <version>`).

Forgetting a machine deletes it and so its machine token; its report history
stays (it is history) until the retention clean-up removes it.
"""

from flask import Blueprint, jsonify, request

from .. import context
from ..auth import admin_required
from ..data import machines, tiers
from ..errors import BadRequest, NotFound
from .machine_fields import MACHINE_ID_RE, PATCH_STATES
from .common import format_time, pagination

bp = Blueprint("admin_machines", __name__)


def _machine_json(row):
    return {
        "machine-id": row["machine_id"],
        "tier": row["tier"],
        "enabled": row["enabled"],
        "auth-token": row["auth_token"],
        "created": format_time(row["created_at"]),
        "last-check-in": format_time(row["last_check_in"]),
        "kernel": row["kernel"],
        "architecture": row["architecture"],
        "patch-state": row["patch_state"],
        "patch-version": row["patch_version"],
        "client-version": row["client_version"],
        "boot-time": row["boot_time"],
        "uptime": row["uptime"],
        "cpu-model": row["cpu_model"],
    }


def _query(name, required=False):
    """The parameter as sent (empty: absent); a required one must not be blank.
    Not stripped: " applied" is no state, and a filter matches the value as sent."""
    value = request.args.get(name) or None
    if required and (value is None or not value.strip()):
        raise BadRequest(f"query parameter '{name}' is required", "missing-query")
    return value


def _tier_id(cur, name):
    if name is None:
        return None
    tier = tiers.find(cur, name)
    if tier is None:
        raise NotFound(f"no tier named {name!r}", "tier-not-found")
    return tier["id"]


def _state(required=False):
    state = _query("state", required)
    if state is not None and state not in PATCH_STATES:
        raise BadRequest(f"'state' must be one of {', '.join(PATCH_STATES)}", "invalid-query")
    return state


def _machine_page(tier_name, **filters):
    limit, offset = pagination()
    with context.db().transaction() as cur:
        rows, total = machines.search(cur, limit, offset, tier_id=_tier_id(cur, tier_name), **filters)
    return {"machines": [_machine_json(row) for row in rows], "total": total, "limit": limit, "offset": offset}


@bp.get("/v1/admin/machines")
@admin_required
def list_machines():
    return jsonify(_machine_page(_query("tier"), kernel=_query("kernel"), state=_state(),
                                 version=_query("version")))


@bp.delete("/v1/admin/machines/<machine_id>")
@admin_required
def forget_machine(machine_id):
    if not MACHINE_ID_RE.fullmatch(machine_id):
        raise BadRequest("not a machine id", "invalid-machine-id")
    with context.db().transaction() as cur:
        existed = machines.forget(cur, machine_id)
    if not existed:
        raise NotFound("no such machine", "machine-not-found")
    return jsonify({"machine-id": machine_id, "forgotten": True})


@bp.get("/v1/admin/reports/machines")
@admin_required
def report_machines():
    tier, version, state = _query("tier", required=True), _query("version"), _state()
    page = _machine_page(tier, version=version, state=state)
    return jsonify({"tier": tier, "version": version, "state": state, **page})


@bp.get("/v1/admin/reports/patch-health")
@admin_required
def patch_health():
    tier, version = _query("tier", required=True), _query("version", required=True)
    with context.db().transaction() as cur:
        counts = machines.state_counts(cur, _tier_id(cur, tier), version)
    states = {state: 0 for state in PATCH_STATES}
    for state, count in counts.items():
        # A machine that reported no state is counted as "unknown".
        states[state if state in states else "unknown"] += count
    return jsonify({"tier": tier, "version": version, "total": sum(states.values()), "states": states})
