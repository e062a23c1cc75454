"""One guard for the text a request carries: a NUL byte, or bytes that are not
UTF-8, can be stored in no column (psycopg2 refuses NUL in a string; PostgreSQL
holds UTF-8 only), so such text is refused where it enters, as 400 `invalid-text`,
before any view or SQL sees it:

- the URL path (so every path parameter) and every name and value of the query
  string, before routing hands anything to a view (`check_environ`);
- the header values the server reads as values (`VALUE_HEADERS`): ASCII, as their
  grammars say, so that credentials and ranges are never anything else;
- every string of a JSON body, keys included, as the body is parsed (`check_json`,
  called by json_input).

Messages name where the bad text was, never the text itself."""

import re
from urllib.parse import unquote_to_bytes

from .errors import InvalidText

VALUE_HEADERS = ("Authorization", "Range", "If-Range", "If-None-Match")
_ASCII_FIELD = re.compile(r"[\t\x20-\x7e]*")
# In decoded text: NUL, and lone surrogates (what a JSON \ud800 escape gives), which no UTF-8 can carry.
_BAD_CHAR = re.compile("[\x00\ud800-\udfff]")


def _check_bytes(raw, where):
    if b"\x00" in raw:
        raise InvalidText(f"{where} holds a NUL byte")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidText(f"{where} is not UTF-8 text") from None


def _wsgi_bytes(text, where):
    """The raw bytes of a WSGI string (PEP 3333: latin-1 decoded)."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        raise InvalidText(f"{where} is not UTF-8 text") from None


def check_environ(environ):
    """Raises InvalidText for bad text in the path, the query string or a value header."""
    _check_bytes(_wsgi_bytes(environ.get("PATH_INFO", ""), "the URL path"), "the URL path")
    query = _wsgi_bytes(environ.get("QUERY_STRING", ""), "the query string")
    for part in query.split(b"&") if query else ():
        raw_name, _, raw_value = part.partition(b"=")
        name = _check_bytes(unquote_to_bytes(raw_name.replace(b"+", b" ")), "a query parameter name")
        _check_bytes(unquote_to_bytes(raw_value.replace(b"+", b" ")), f"query parameter {name[:64]!r}")
    for header in VALUE_HEADERS:
        value = environ.get("HTTP_" + header.upper().replace("-", "_"))
        if value is not None and not _ASCII_FIELD.fullmatch(value):
            raise InvalidText(f"the {header} header must be ASCII text")


def check_string(text, where):
    if _BAD_CHAR.search(text):
        raise InvalidText(f"{where} holds a NUL character or a lone UTF-16 surrogate")


def check_json(value):
    """Raises InvalidText when any string of a parsed JSON value (keys too) is bad text."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            check_string(item, "a JSON string")
        elif isinstance(item, dict):
            for key, member in item.items():
                check_string(key, "a JSON key")
                pending.append(member)
        elif isinstance(item, list):
            pending.extend(item)
