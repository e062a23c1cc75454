"""Parsing request JSON, bounded before the parser runs: a body is at most
MAX_BYTES (json_body refuses more, 413 `body-too-large`) and nests arrays and
objects at most MAX_DEPTH deep (400 `json-too-deep`: the parser recurses once per
level, and enough levels end in RecursionError). It must be UTF-8, and every
string it holds passes text_guard. Flask's JSON provider, so request.get_json
goes through it."""

import re

from flask.json.provider import DefaultJSONProvider

from . import text_guard
from .errors import BadRequest, InvalidText

MAX_BYTES = 64 * 1024
MAX_DEPTH = 32
# A JSON string (escapes included) or a bracket; brackets inside strings are text.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def nesting_depth(text, limit):
    """The deepest nesting of `text`, counted up to limit + 1 (where it stops).

    Counted as the parser reads: up to where the parser would fail, the two agree
    on what is inside a string, so the parser never goes deeper than this count."""
    depth = deepest = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        elif token in "]}":
            depth -= 1
            if depth < 0:  # not JSON: the parser stops here
                break
    return deepest


class RequestJSONProvider(DefaultJSONProvider):
    def loads(self, s, **kwargs):
        decoded = isinstance(s, (bytes, bytearray))
        if decoded:
            try:
                s = bytes(s).decode("utf-8-sig")  # RFC 8259: UTF-8 (a BOM is tolerated)
            except UnicodeDecodeError:
                raise InvalidText("the JSON body is not UTF-8 text") from None
        # Nesting is never deeper than the number of opening brackets (a C-speed count),
        # so the token scan only runs on a text that has more than the limit.
        if s.count("[") + s.count("{") > MAX_DEPTH and nesting_depth(s, MAX_DEPTH) > MAX_DEPTH:
            raise BadRequest(f"the JSON body nests arrays and objects more than {MAX_DEPTH} deep", "json-too-deep")
        value = super().loads(s, **kwargs)
        # Text decoded here from UTF-8 holds no lone surrogate, and the parser refuses a
        # raw NUL in a string, so only a \u escape can then put either in a parsed string.
        if "\\u" in s or not decoded:
            text_guard.check_json(value)
        return value
