"""Request parsing shared by the views: JSON bodies, typed fields, times, paging."""

from datetime import datetime, timezone

from flask import current_app, request

from ..errors import BadRequest, TooLarge
from ..json_input import MAX_BYTES

_MISSING = object()


def _read_body():
    """The body, read only up to MAX_BYTES (413 `body-too-large` past it)."""
    if request.content_length is not None and request.content_length > MAX_BYTES:
        raise TooLarge(f"a JSON body is at most {MAX_BYTES // 1024} KiB", "body-too-large")
    parts, size = [], 0
    while size <= MAX_BYTES:  # a stream may answer a read with fewer bytes than asked
        data = request.stream.read(MAX_BYTES + 1 - size)
        if not data:
            break
        parts.append(data)
        size += len(data)
    if size > MAX_BYTES:  # a body without a length is cut there too
        raise TooLarge(f"a JSON body is at most {MAX_BYTES // 1024} KiB", "body-too-large")
    return b"".join(parts)


def json_body(optional=False):
    """The request's JSON object; 400 `invalid-json` when it is not one, 413
    `body-too-large` past json_input.MAX_BYTES (nothing past it is read). Parsed by
    the app's JSON provider (json_input: depth and text checked)."""
    raw = _read_body()
    if not raw.strip():
        if optional:
            return {}
        raise BadRequest("a JSON object body is required", "invalid-json")
    try:
        data = current_app.json.loads(raw)
    except ValueError:
        raise BadRequest("the body is not valid JSON", "invalid-json") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object", "invalid-json")
    return data


def known_fields(body, *names):
    """400 `unknown-field` for a key the operation does not take: a misspelt field
    ("teir") is a mistake to report, not to ignore (the document says
    additionalProperties: false)."""
    unknown = sorted(key for key in body if key not in names)
    if unknown:
        raise BadRequest(f"unknown field {unknown[0][:64]!r}: this operation takes "
                         f"{', '.join(repr(n) for n in names)}", "unknown-field")


def field(body, name, kind=str, required=False, default=None, allow_none=False):
    """body[name] checked against `kind` (str, int, bool, list); 400 `invalid-field`.
    null is refused unless allow_none: the OpenAPI document declares no field
    nullable, and an explicit null is more likely a client's bug than "absent"."""
    value = body.get(name, _MISSING)
    if value is _MISSING:
        if required:
            raise BadRequest(f"'{name}' is required", "missing-field")
        return default
    if value is None:
        if allow_none:
            return None
        raise BadRequest(f"'{name}' must not be null", "invalid-field")
    # bool is an int in Python; keep the two apart.
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise BadRequest(f"'{name}' must be a whole number", "invalid-field")
    if kind is not int and not isinstance(value, kind):
        raise BadRequest(f"'{name}' must be of type {kind.__name__}", "invalid-field")
    if kind is str and required and not value.strip():
        raise BadRequest(f"'{name}' must not be empty", "invalid-field")
    return value


def parse_time(value, name):
    """RFC 3339 -> aware datetime; 400 naming the field otherwise."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"'{name}' must be an RFC 3339 time string", "invalid-field")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"'{name}' is not an RFC 3339 time like 2026-01-31T00:00:00Z", "invalid-field") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    # In UTC: PostgreSQL refuses offsets past 15:59 that RFC 3339 allows (up to 23:59).
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:
        raise BadRequest(f"'{name}' is out of range (years 1-9999 in UTC)", "invalid-field") from None


def format_time(value):
    if value is None:
        return None
    # isoformat pads years before 1000 to four digits (strftime's %Y does not, on glibc).
    return value.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def query_int(name, default, low=None, high=None):
    text = request.args.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"query parameter '{name}' must be a whole number", "invalid-query") from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise BadRequest(f"query parameter '{name}' must be between {low} and {high}", "invalid-query")
    return value


def pagination(default_limit=100, max_limit=1000):
    """-> (limit, offset) from ?limit=&offset=."""
    return query_int("limit", default_limit, 1, max_limit), query_int("offset", 0, 0, 10**9)
