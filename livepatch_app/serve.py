"""Runs the app under waitress with bounded in-flight work, plus the background
jobs (sync, clean-up) that this unit is asked to run."""

import logging

import waitress

from .app import create_app
from .limits import ConcurrencyLimiter

log = logging.getLogger("livepatch.serve")


def build_wsgi(config, app=None):
    app = app or create_app(config)
    metrics = app.extensions["livepatch.metrics"]
    wsgi = ConcurrencyLimiter(app.wsgi_app, config.concurrency_limit, config.burst_limit,
                              on_overload=metrics.overload.inc)
    app.wsgi_app = wsgi
    return app


def waitress_options(config):
    capacity = config.concurrency_limit + config.burst_limit
    return {
        "host": config.bind_address,
        "port": config.port,
        # Enough threads that requests past the limits reach the limiter and are
        # refused at once rather than queueing inside waitress.
        "threads": min(capacity + 4, 1024),
        "connection_limit": max(100, capacity + 100),
        "channel_timeout": 120,
        # Waitress spools bodies to disk; past this it refuses them itself.
        "max_request_body_size": (config.max_upload_size + 1) * 1024 * 1024,
        "ident": "livepatch",
        "clear_untrusted_proxy_headers": True,
    }


def serve(config):
    app = build_wsgi(config)
    from .jobs import start_jobs

    start_jobs(app)
    log.info("serving on %s:%s", config.bind_address, config.port)
    waitress.serve(app, **waitress_options(config))
