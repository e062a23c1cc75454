"""Per-app services, reachable from views: the config, database, patch store, metrics."""

from flask import current_app


def config():
    return current_app.extensions["livepatch.config"]


def db():
    return current_app.extensions["livepatch.db"]


def store():
    return current_app.extensions["livepatch.store"]


def metrics():
    return current_app.extensions["livepatch.metrics"]


def schema_gate():
    return current_app.extensions["livepatch.schema_gate"]
