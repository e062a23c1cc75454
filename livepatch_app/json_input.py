"""Parsing request JSON (Flask's JSON provider, so request.get_json goes through it):
the body must be UTF-8, and every string it holds passes text_guard."""

from flask.json.provider import DefaultJSONProvider

from . import text_guard
from .errors import InvalidText


class RequestJSONProvider(DefaultJSONProvider):
    def loads(self, s, **kwargs):
        if isinstance(s, (bytes, bytearray)):
            try:
                s = bytes(s).decode("utf-8-sig")  # RFC 8259: UTF-8 (a BOM is tolerated)
            except UnicodeDecodeError:
                raise InvalidText("the JSON body is not UTF-8 text") from None
        value = super().loads(s, **kwargs)
        text_guard.check_json(value)
        return value
