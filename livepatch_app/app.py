"""The Flask application factory: one blueprint per area."""

import importlib
import logging
import time

from flask import Flask, g, request

from . import context, text_guard
from .api.check_in_lane import CheckInLane
from .auth_throttle import AuthThrottle
from .body_limits import BodyRules
from .download_index import DownloadIndex
from .client_address import ClientAddress
from .db import Database, DatabaseUnavailable
from .errors import database_unavailable, error_response, register_error_handlers
from .json_input import RequestJSONProvider
from .log_paths import loggable_path
from .logs import log_fields
from .metrics import Metrics
from .schema_gate import SchemaGate

# Areas, each a module in livepatch_app/api/ exposing `bp`.
BLUEPRINTS = [
    "ops",
    "admin_auth",
    "admin_patches", "admin_tiers", "downloads",  # patches, tiers, blocklist, downloads
    "admin_tokens", "client", "admin_machines",  # clients, machine reports
    "sync", "admin_sync",  # patch sync (upstream and downstream sides), air-gapped import
    "console",  # the web console (HTML pages under /console/)
]

# Endpoints that answer while the schema is behind (operations and the contract).
_OPS_ENDPOINTS = {"ops.index", "ops.debug_info", "ops.debug_status", "ops.metrics", "ops.openapi",
                  "console.stylesheet"}  # a file of the package: styles the console's error pages too

log = logging.getLogger("livepatch.http")


def create_app(config, db=None, store=None):
    app = Flask("livepatch_app", static_folder=None)  # no /static route: every route is in the contract
    app.json = RequestJSONProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = None  # bounded per route: body_limits
    app.json.sort_keys = False
    db = db or Database(config.database_url, config.dbconn_max, config.dbconn_max_lifetime)
    if store is None:
        from .storage import make_store

        store = make_store(config, db)
    services = app.extensions[context.KEY] = context.Services(
        config=config, db=db, store=store, metrics=Metrics(), schema_gate=SchemaGate(db),
        auth_throttle=AuthThrottle(free_failures=config.auth_throttle_free_failures),
        download_index=DownloadIndex(db.dsn))
    register_error_handlers(app)
    for name in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(f"livepatch_app.api.{name}").bp)
    services.body_rules = BodyRules(app, config.max_upload_size)
    app.before_request(_start)  # first: nothing after it sees text SQL cannot hold
    app.before_request(_before)
    app.after_request(_after)
    # Plain check-ins skip Flask (api/check_in_lane.py), behind the client's address
    # from a trusted proxy's X-Forwarded-For, in REMOTE_ADDR.
    app.wsgi_app = ClientAddress(CheckInLane(app.wsgi_app, app), config.trusted_proxies)
    return app


def _start():
    g.started = time.monotonic()
    text_guard.check_environ(request.environ)


def _before():
    if request.endpoint in _OPS_ENDPOINTS or request.endpoint is None:
        return None
    try:
        status = context.schema_gate().status()
    except DatabaseUnavailable:
        context.metrics().db_errors.inc()
        return database_unavailable()
    if status.upgrade_required:
        return error_response(
            f"database schema {status.current} is older than {status.required}: run the schema upgrade",
            "schema-upgrade-required", 503, {"Retry-After": "30"})
    return None


def _after(response):
    elapsed = time.monotonic() - g.get("started", time.monotonic())
    rule = request.url_rule.rule if request.url_rule else None
    context.metrics().observe_request(elapsed, rule, request.method, response.status_code)
    if log.isEnabledFor(logging.INFO):  # the line's fields cost more than the check
        log_fields(log, logging.INFO, "request", method=request.method, path=loggable_path(),
                   status=response.status_code, duration_ms=round(elapsed * 1000, 1),
                   remote=request.remote_addr)
    return response
