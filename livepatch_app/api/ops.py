"""Operational endpoints (no auth): banner, debug info/status, metrics, OpenAPI."""

from flask import Blueprint, Response, jsonify

from .. import __version__, context
from ..db import DatabaseUnavailable
from ..openapi_doc import document

bp = Blueprint("ops", __name__)


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


@bp.get("/metrics")
def metrics():
    return Response(context.metrics().render(), mimetype="text/plain; version=0.0.4")


@bp.get("/v1/openapi.json")
def openapi():
    return jsonify(document())
