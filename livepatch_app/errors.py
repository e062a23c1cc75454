"""API errors: every failure answers JSON {"error": sentence, "code": stable-slug}."""

from flask import jsonify
from werkzeug.exceptions import HTTPException


class APIError(Exception):
    status = 400
    code = "bad-request"

    def __init__(self, message, code=None, status=None, headers=None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.headers = headers or {}


class BadRequest(APIError):
    status, code = 400, "bad-request"


class InvalidText(BadRequest):
    """Text no column can hold: a NUL byte, or bytes that are not UTF-8 (see text_guard)."""
    status, code = 400, "invalid-text"


class Unauthorized(APIError):
    status, code = 401, "unauthorized"


class Forbidden(APIError):
    status, code = 403, "forbidden"


class NotFound(APIError):
    status, code = 404, "not-found"


class Conflict(APIError):
    status, code = 409, "conflict"


class TooLarge(APIError):
    status, code = 413, "too-large"


class TooManyAttempts(APIError):
    """Too many failed credentials from this source or for this user (auth_throttle.py)."""

    status, code = 429, "too-many-attempts"

    def __init__(self, retry_after):
        super().__init__(f"too many failed attempts: retry in {retry_after} s", headers={
            "Retry-After": str(retry_after)})


class Unavailable(APIError):
    status, code = 503, "unavailable"


def error_response(message, code, status, headers=None):
    response = jsonify({"error": message, "code": code})
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def database_unavailable():
    """The answer when the database cannot be reached or has no free connection."""
    return error_response("the database is unavailable", "database-unavailable", 503, {"Retry-After": "5"})


# Werkzeug's own errors (unknown route, wrong method, ...) as our JSON.
_HTTP_CODES = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    408: "request-timeout",
    411: "length-required",
    413: "too-large",
    415: "unsupported-media-type",
    416: "range-not-satisfiable",
}


def register_error_handlers(app):
    from .db import DatabaseUnavailable

    @app.errorhandler(APIError)
    def _api_error(exc):
        return error_response(exc.message, exc.code, exc.status, exc.headers)

    @app.errorhandler(DatabaseUnavailable)
    def _db_down(exc):
        app.logger.warning("database unavailable: %s", exc)
        return database_unavailable()

    @app.errorhandler(HTTPException)
    def _http_error(exc):
        code = _HTTP_CODES.get(exc.code, "error")
        message = {404: "no such endpoint", 405: "method not allowed on this endpoint"}.get(exc.code, exc.description)
        response = error_response(message, code, exc.code)
        if exc.code == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc):
        app.logger.exception("unhandled error")
        return error_response("internal error", "internal-error", 500)
