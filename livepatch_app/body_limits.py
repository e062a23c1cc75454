"""How much request body each route may send, decided from the method and path
alone, so before credentials and before any body byte is read: json_input's
MAX_BYTES (64 KiB) for every route, except views marked `streams_body` (the patch
upload), which may send `max_upload_size` MiB and read their body as a stream.
Unknown paths and wrong methods read no body: they get the JSON limit too."""

from dataclasses import dataclass

from .json_input import MAX_BYTES

MIB = 1024 * 1024


@dataclass(frozen=True)
class BodyRule:
    limit: int  # bytes
    streams: bool  # the view reads the body as it arrives (else it is buffered first)
    code: str  # the 413's error code
    message: str  # the 413's error sentence


def streams_body(view):
    """Marks a view that reads its body as a stream, up to max_upload_size."""
    view.streams_body = True
    return view


class BodyRules:
    """The BodyRule of each request of one app (build it after the routes are registered)."""

    def __init__(self, app, max_upload_mib):
        self.json = BodyRule(MAX_BYTES, False, "body-too-large", f"a JSON body is at most {MAX_BYTES // 1024} KiB")
        self.upload = BodyRule(max_upload_mib * MIB, True, "upload-too-large",
                               f"the upload is larger than the limit of {max_upload_mib} MiB (max_upload_size)")
        self._views = app.view_functions
        self._adapter = app.url_map.bind("localhost")
        # Only these methods can reach a streaming view: any other request line is
        # judged without a route match (waitress's I/O thread makes this call for
        # every request with a body, check-ins included).
        self._streaming_methods = frozenset(
            method for rule in app.url_map.iter_rules() if self.for_endpoint(rule.endpoint).streams
            for method in rule.methods)

    def for_endpoint(self, endpoint):
        return self.upload if getattr(self._views.get(endpoint), "streams_body", False) else self.json

    def for_request(self, method, path_info):
        """The rule for a request line; path_info as WSGI gives it (latin-1 decoded bytes)."""
        if method not in self._streaming_methods:
            return self.json
        try:
            path = path_info.encode("latin-1").decode("utf-8", "replace")
            endpoint, _ = self._adapter.match(path, method=method)
        except Exception:  # no route (404, 405, redirect): no view will read the body
            return self.json
        return self.for_endpoint(endpoint)
