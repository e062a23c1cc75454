"""Per-app services: one typed object, made once by create_app and kept in
app.extensions under one key, reachable from views (the helpers below) and from
jobs and the serving layer (services(app))."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import current_app

if TYPE_CHECKING:  # types only: these modules import context themselves
    from .auth_throttle import AuthThrottle
    from .body_limits import BodyRules
    from .download_index import DownloadIndex
    from .config import Config
    from .db import Database
    from .metrics import Metrics
    from .schema_gate import SchemaGate

KEY = "livepatch"


@dataclass
class Services:
    config: Config
    db: Database
    store: Any  # storage.*Store
    metrics: Metrics
    schema_gate: SchemaGate
    auth_throttle: AuthThrottle
    download_index: DownloadIndex | None = None  # cached download lookups (LISTEN/NOTIFY)
    body_rules: BodyRules | None = None  # set once the blueprints are registered
    jobs: dict = field(default_factory=dict)  # name -> started job (jobs.start_jobs)
    patch_cache: Any = None  # patch_cache.for_app makes it on first use
    lock: threading.Lock = field(default_factory=threading.Lock)


def services(app=None) -> Services:
    return (app or current_app).extensions[KEY]


def config():
    return services().config


def db():
    return services().db


def store():
    return services().store


def metrics():
    return services().metrics


def schema_gate():
    return services().schema_gate
