"""Operational endpoints (no auth): banner, debug info/status, metrics, OpenAPI."""

import threading

from flask import Blueprint, Response, jsonify

from .. import __version__, context
from ..data import sync_runs
from ..db import DatabaseUnavailable
from ..openapi_doc import document

bp = Blueprint("ops", __name__)
_state_lock = threading.Lock()  # one scrape at a time sets and renders the state gauges


@bp.get("/")
def index():
    return Response(f"Livepatch server {__version__}\n", mimetype="text/plain")


def _schema_status():
    try:
        return context.schema_gate().status()
    except DatabaseUnavailable:
        return None


@bp.get("/debug/info")
def debug_info():
    status = _schema_status()
    return jsonify({
        "version": __version__,
        "schema-version": status.current if status else None,
        "leader": context.config().leader,
    })


def _sync_status():
    # Imported lazily: the sync area reports its own state.
    from ..sync_status import sync_status

    return sync_status()


@bp.get("/debug/status")
def debug_status():
    status = _schema_status()
    if status is None:
        body = {"database": "unreachable", "schema": None, "sync": None, "contracts": {"status": "OK"}}
        return jsonify(body), 503
    body = {
        "database": "OK",
        "schema": status.as_dict(),
        "sync": _sync_status(),
        "contracts": {"status": "OK"},
    }
    if status.upgrade_required:
        body["schema"]["message"] = "schema upgrade required: run the schema-upgrade action on the leader"
        return jsonify(body), 503
    return jsonify(body)


def _refresh_state_gauges(metrics):
    """Sets the gauges of database, schema and sync state from the database, now:
    the schema through the schema gate (cached for a few seconds), the sync
    outcome with one query. What cannot be known is left out, not guessed."""
    config = context.config()
    metrics.schema_upgrade_required.clear()
    metrics.sync_interval.clear()
    metrics.sync_last_run_success.clear()
    metrics.sync_last_success.clear()
    metrics.sync_enabled.set(1 if config.patch_sync_enabled else 0)
    if config.patch_sync_enabled:
        metrics.sync_interval.set(config.sync_interval)
    status = _schema_status()
    metrics.database_up.set(0 if status is None else 1)
    if status is None:
        return
    metrics.schema_upgrade_required.set(1 if status.upgrade_required else 0)
    if not config.patch_sync_enabled or status.upgrade_required:  # sync_runs may not be there yet
        return
    try:
        with context.db().transaction() as cur:
            row = sync_runs.last_outcomes(cur)
    except DatabaseUnavailable:
        metrics.database_up.set(0)
        return
    if row["last_result"] is not None:
        metrics.sync_last_run_success.set(1 if row["last_result"] == "success" else 0)
    if row["last_success"] is not None:
        metrics.sync_last_success.set(round(row["last_success"].timestamp(), 3))


@bp.get("/metrics")
def metrics():
    registry = context.metrics()
    with _state_lock:
        _refresh_state_gauges(registry)
        text = registry.render()
    return Response(text, mimetype="text/plain; version=0.0.4")


@bp.get("/v1/openapi.json")
def openapi():
    return jsonify(document())
