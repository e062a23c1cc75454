"""The OpenAPI 3 document: openapi/base.yaml plus one fragment per area
(openapi/<area>.yaml with a `paths:` mapping), merged once and cached."""

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
    return doc
