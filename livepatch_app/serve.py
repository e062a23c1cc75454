"""Runs the app under waitress with bounded in-flight work, plus the background
jobs (sync, clean-up) that this unit is asked to run."""

import json
import logging

import waitress.server
from waitress.task import ErrorTask

from .api.console import SECURITY_HEADERS as CONSOLE_HEADERS
from .app import create_app
from .context import services
from .drain import Drainer
from .limits import BoundedDispatcher
from .waitress_bodies import BodyChannel, BodyParser, BodyTask

log = logging.getLogger("livepatch.serve")

# Waitress answers some malformed requests itself, before the app sees them;
# these codes keep those answers in the API's JSON error shape.
_WAITRESS_ERRORS = {
    413: ("upload-too-large", "the request body is larger than the server accepts (max_upload_size)"),
    431: ("headers-too-large", "the request headers are too large"),
}


class _JsonErrorTask(ErrorTask):
    def execute(self):
        error = self.request.error
        if getattr(error, "api_code", None):  # the route's own (waitress_bodies)
            code, message = error.api_code, error.body
        else:
            code, message = _WAITRESS_ERRORS.get(error.code, ("bad-request", f"malformed request: {error.body}"))
        body = json.dumps({"error": message, "code": code}).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        if getattr(error, "retry_after", None):  # limits.Overloaded
            self.response_headers.append(("Retry-After", str(error.retry_after)))
        if (getattr(self.request, "path", None) or "").startswith("/console"):  # as api/console.py's answers
            self.response_headers.extend(CONSOLE_HEADERS.items())
            self.response_headers.append(("Cache-Control", "no-store"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


def _channel_class(app):
    """Waitress's connection with the app's body rules, its JSON errors and streamed bodies."""
    parser = type("Parser", (BodyParser,), {"rules": services(app).body_rules})
    return type("Channel", (BodyChannel,), {"parser_class": parser, "task_class": BodyTask,
                                            "error_task_class": _JsonErrorTask})


def waitress_options(config):
    capacity = config.concurrency_limit + config.burst_limit
    return {
        "host": config.bind_address,
        "port": config.port,
        # One thread per request the app may run at once; those waiting hold none
        # (limits.BoundedDispatcher queues them, up to burst_limit, and refuses the rest).
        "threads": config.concurrency_limit,
        "connection_limit": max(100, capacity + 100),
        "channel_timeout": 120,
        # Bodies are bounded per route as soon as the head is in (waitress_bodies):
        # 64 KiB JSON bodies are read whole, in memory (inbuf_overflow is larger);
        # uploads stream. Waitress's own check (a declared length >= this) is a
        # backstop that never refuses what an upload may send.
        "max_request_body_size": config.max_upload_size * 1024 * 1024 + 1,
        "inbuf_overflow": 512 * 1024,
        # Headers are held in memory before anything is known of the client.
        "max_request_header_size": 32 * 1024,
        "ident": "livepatch",
        # Proxy headers are the app's business (client_address.py: trusted_proxies);
        # waitress would drop X-Forwarded-For before the app could read it.
        "clear_untrusted_proxy_headers": False,
    }


def make_server(app, config):
    """A waitress server for the app, not yet running (call .run())."""
    options = waitress_options(config)
    dispatcher = BoundedDispatcher(config.burst_limit, on_overload=services(app).metrics.overload.inc)
    dispatcher.set_thread_count(options["threads"])  # waitress does it only for its own dispatcher
    server = waitress.server.create_server(app, _dispatcher=dispatcher, **options)
    server.channel_class = _channel_class(app)
    return server


def serve(config):
    """Serves until SIGTERM or SIGINT, then drains (drain.py) and returns."""
    app = create_app(config)
    from .jobs import start_jobs

    jobs = start_jobs(app)
    server = make_server(app, config)

    def stop_jobs():
        for job in jobs:
            job.stop()

    drainer = Drainer(server, config.shutdown_drain_timeout, on_stop=stop_jobs)
    drainer.install_signal_handlers()
    services(app).db.warm()  # the first requests find their connections open
    log.info("serving on %s:%s", config.bind_address, config.port)
    drainer.run()
    services(app).download_index.stop()
    services(app).db.close()
