"""The check-in lane: a WSGI layer in front of Flask that answers a plain, successful
check-in itself, and hands every other request to Flask untouched.

Check-ins are the fleet's steady load, and on a 2-core unit Flask's own work per
request (its request context, routing, the response object's hooks) cost as much
as the check-in's statement: in bench/RESULTS.md, a bare WSGI view running the same
statement serves about 1.3x what a Flask view does. The lane does what the client
blueprint's view does for a check-in that is in order (api/check_in.py holds the
rules both use), and nothing more. It gives up on whatever is not plainly in order,
before anything is written: another route or method, text the app's hooks refuse,
a schema behind its migrations, no Bearer token, a body that is not a valid report, a throttled source, or a token
the statement does not match (that statement writes nothing). Flask's view then
answers the request from the start, as if the lane were not there, with its errors,
security log lines and throttle counts; a refused token costs one statement more
than it would without the lane.

One more answer is the lane's own, as the app gives it: a database that cannot be
reached, has no free connection, or loses the connection (db.Database.connection:
503 database-unavailable). Handing it over would make the request wait for the
database a second time. Any other database error is logged and handed over, and
the view answers it.

The lane keeps what the app's hooks do for every request (app.py): text checks on
the path and headers, the schema gate, the request metrics and the request log line,
which names the route's template (log_paths.py)."""

import functools
import io
import logging
import re
import time

import psycopg2
from werkzeug.exceptions import SecurityError
from werkzeug.sansio.utils import get_current_url
from werkzeug.wsgi import get_host

from .. import text_guard
from ..auth import bearer_token
from ..auth_throttle import Throttled
from ..context import services
from ..data import check_ins
from ..db import DatabaseUnavailable
from ..errors import APIError, InvalidText, database_unavailable
from ..json_input import MAX_BYTES
from ..logs import log_fields
from ..tokens import token_hash
from .check_in import offer_kernel, offers, parse_report
from .machine_fields import MACHINE_ID_RE

log = logging.getLogger("livepatch.http")

# (method, path pattern, route template): the client blueprint's two check-in routes.
_ROUTES = (
    ("POST", re.compile(r"/v1/client/([^/]+)/updates"), "/v1/client/<machine_id>/updates"),
    ("PUT", re.compile(r"/api/machine/([^/]+)"), "/api/machine/<machine_id>"),
)


class CheckInLane:
    def __init__(self, wsgi_app, flask_app):
        self.wsgi_app = wsgi_app  # Flask's, which answers whatever the lane does not
        self.flask_app = flask_app
        self.services = services(flask_app)  # the app's, made before its WSGI layers

    def __call__(self, environ, start_response):
        started = time.monotonic()
        machine_id, rule = _route(environ)
        response = self._check_in(environ, machine_id) if machine_id else None
        if response is None:
            return self.wsgi_app(environ, start_response)
        status, answer = response
        elapsed = time.monotonic() - started
        self.services.metrics.observe_request(elapsed, rule, environ["REQUEST_METHOD"], status)
        if log.isEnabledFor(logging.INFO):
            log_fields(log, logging.INFO, "request", method=environ["REQUEST_METHOD"], path=rule, status=status,
                       duration_ms=round(elapsed * 1000, 1), remote=environ.get("REMOTE_ADDR"))
        return answer(environ, start_response)

    def _check_in(self, environ, machine_id):
        """(status, answer as a WSGI app) for a check-in in order, once stored, or for a
        database the app cannot use; None: the view answers."""
        app, app_services = self.flask_app, self.services
        token = bearer_token(environ.get("HTTP_AUTHORIZATION", ""))
        raw = _body(environ)
        if token is None or raw is None:
            return None
        try:
            text_guard.check_environ(environ)
            if app_services.schema_gate.status().upgrade_required:
                return None
        except (InvalidText, psycopg2.Error):  # the app's hooks answer these
            return None
        except DatabaseUnavailable:
            app_services.metrics.db_errors.inc()  # as app.py's hook counts it
            return 503, _unavailable(app)
        try:
            body = app.json.loads(raw)
            report = parse_report(body) if isinstance(body, dict) else None
            host_url = None if app_services.config.url_template else _host_url(environ)
        except (ValueError, APIError, SecurityError):  # bad JSON, a bad field, an untrusted Host
            return None
        if report is None:
            return None
        kernel, flavour = offer_kernel(report)
        try:
            checking = app_services.auth_throttle.begin("client", environ.get("REMOTE_ADDR") or "")
        except Throttled:
            return None
        with checking:
            try:
                with app_services.db.autocommit() as cur:
                    row = check_ins.record(cur, machine_id, token_hash(token), report, kernel, flavour)
            except DatabaseUnavailable as exc:
                app.logger.warning("database unavailable: %s", exc)  # as errors.py's handler logs it
                return 503, _unavailable(app)
            except psycopg2.Error as exc:
                log.warning("check-in lane: %s from the database; the view tries again", type(exc).__name__)
                return None
            if row is None:
                return None
            checking.succeeded()
        app_services.metrics.check_ins.inc(patch_state=report["patch_state"] or "not-reported", tier=row["tier"])
        answer = {"patches": offers(row, app_services.config.url_template, host_url)}
        return 200, _json_response(app, answer)


def _route(environ):
    """(machine id, route template) when the request is one of the check-in routes,
    else (None, None)."""
    method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "")
    for route_method, pattern, rule in _ROUTES:
        if method == route_method:
            match = pattern.fullmatch(path)
            if match and MACHINE_ID_RE.fullmatch(match[1]):
                return match[1], rule
    return None, None


def _body(environ):
    """The request's body, when it declares a length the JSON routes take (the view
    reads it again from here); else None."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    if not 0 < length <= MAX_BYTES:
        return None
    raw = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(raw)
    return raw if len(raw) == length else None


def _host_url(environ):
    """request.host_url: scheme://host/, as werkzeug builds it."""
    return _scheme_host_url(environ["wsgi.url_scheme"], environ.get("HTTP_HOST"), environ.get("SERVER_NAME"),
                            environ.get("SERVER_PORT"))


@functools.lru_cache(maxsize=256)  # a fleet sends a few Host values, and building one costs as much as a report
def _scheme_host_url(scheme, host, server_name, server_port):
    environ = {"wsgi.url_scheme": scheme, "SERVER_NAME": server_name, "SERVER_PORT": server_port}
    if host is not None:
        environ["HTTP_HOST"] = host
    return get_current_url(scheme, get_host(environ))


def _unavailable(app):
    """The app's answer for a database it cannot use (errors.database_unavailable)."""
    with app.app_context():
        return database_unavailable()


def _json_response(app, value):
    """What app.json.response(value) answers (flask.json.provider: compact, a final
    newline, application/json), as a WSGI app, without its Response object's work."""
    pretty = app.json.compact is False or (app.json.compact is None and app.debug)
    body = f"{app.json.dumps(value, **({'indent': 2} if pretty else {'separators': (',', ':')}))}\n".encode()
    headers = [("Content-Type", app.json.mimetype), ("Content-Length", str(len(body)))]

    def respond(environ, start_response):
        start_response("200 OK", headers)
        return [body]

    return respond
