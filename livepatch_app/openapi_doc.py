"""The OpenAPI 3 document: openapi/base.yaml plus one fragment per area
(openapi/<area>.yaml with a `paths:` mapping), merged once and cached.

The answers that guards common to every route can give are added here, once,
rather than repeated in each fragment (an operation's own entry wins):
- 400 invalid-text (text_guard: path, query and value headers of every request);
- 413 body-too-large (body_limits: a body past the route's limit, on any route);
- 503 unavailable (the database is unreachable);
- 401 on every operation with a security requirement (auth.py)."""

import functools
from importlib import resources

import yaml

from . import __version__


@functools.lru_cache(maxsize=1)
def document():
    folder = resources.files("livepatch_app.openapi")
    doc = yaml.safe_load(folder.joinpath("base.yaml").read_text("utf-8"))
    doc["info"]["version"] = __version__
    doc.setdefault("paths", {})
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml") and entry.name != "base.yaml":
            fragment = yaml.safe_load(entry.read_text("utf-8")) or {}
            for path, operations in (fragment.get("paths") or {}).items():
                doc["paths"].setdefault(path, {}).update(operations)
            for kind, items in (fragment.get("components") or {}).items():
                doc.setdefault("components", {}).setdefault(kind, {}).update(items)
    for operations in doc["paths"].values():
        for operation in operations.values():
            _add_common_responses(operation)
    return doc


_ERROR = {"$ref": "#/components/responses/Error"}
COMMON_RESPONSES = {"400": _ERROR, "413": _ERROR, "503": _ERROR}


def _add_common_responses(operation):
    responses = operation.setdefault("responses", {})
    for status, response in COMMON_RESPONSES.items():
        responses.setdefault(status, response)
    if operation.get("security"):
        responses.setdefault("401", _ERROR)
