"""The documentation agrees with the code: every route row of docs/api.md is an
operation of the OpenAPI document the server serves and a rule of the Flask app, and
the other way round; and nothing the project ships points outside the repository.

No database: the app is built with a DSN nobody connects to (the pool connects
lazily), and GET /v1/openapi.json is an operational endpoint, served without
touching the database."""

import re
from collections import Counter
from pathlib import Path

import pytest

from livepatch_app.app import create_app
from livepatch_app.config import load_config

ROOT = Path(__file__).resolve().parents[2]
API_MD = ROOT / "docs" / "api.md"
# The web console's HTML pages are not API operations (no JSON, not in the OpenAPI
# document): their routes are documented in docs/console.md instead, in the same rows.
CONSOLE_MD = ROOT / "docs" / "console.md"
HTML_BLUEPRINTS = {"console"}
HTTP_METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE")
# Methods Flask adds to every rule by itself (HEAD to each GET, OPTIONS to all).
IMPLICIT_METHODS = {"HEAD", "OPTIONS"}
# A route row: "| GET `/v1/admin/tiers` | ..." (one method per row).
ROW_RE = re.compile(r"^\|\s*(?P<method>%s)\s+`(?P<path>/[^`]*)`\s*\|" % "|".join(HTTP_METHODS))
# Flask's <name> and <converter:name> (e.g. <path:filename>) -> OpenAPI's {name}.
FLASK_PARAM_RE = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


@pytest.fixture(scope="module")
def app():
    # Port 1 on loopback: if anything did try to connect, it would fail at once.
    config = load_config(None, environ={},
                         overrides={"database_url": "postgresql://docs-test@127.0.0.1:1/none"})
    return create_app(config)


@pytest.fixture(scope="module")
def served_openapi(app):
    response = app.test_client().get("/v1/openapi.json")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def doc_rows(page=API_MD):
    """[(METHOD, path)] of the route rows of docs/api.md (or another page), in order."""
    rows = []
    for line in page.read_text("utf-8").splitlines():
        match = ROW_RE.match(line)
        if match:
            rows.append((match["method"], match["path"]))
    return rows


def openapi_operations(document):
    return {(method.upper(), path)
            for path, item in document["paths"].items()
            for method in item if method.upper() in HTTP_METHODS}


def flask_routes(app, html=False):
    """{(METHOD, path)} of the app's url_map in OpenAPI's path syntax, without the
    implicit HEAD/OPTIONS: the API's routes, or (html) the console's pages. The app
    registers no /static route, so every route it serves must be in the contract."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if (rule.endpoint.partition(".")[0] in HTML_BLUEPRINTS) != html:
            continue
        path = FLASK_PARAM_RE.sub(r"{\1}", rule.rule)
        for method in rule.methods - IMPLICIT_METHODS:
            routes.add((method, path))
    return routes


def _difference(left, right, left_name, right_name):
    lines = [f"in {left_name} only: {m} {p}" for m, p in sorted(left - right)]
    lines += [f"in {right_name} only: {m} {p}" for m, p in sorted(right - left)]
    return "\n".join(lines)


def test_api_md_has_route_rows_each_once():
    rows = doc_rows()
    assert len(rows) > 20, "docs/api.md lost its route tables (rows look like: | GET `/path` | ... |)"
    repeated = [row for row, count in Counter(rows).items() if count > 1]
    assert not repeated, f"routes documented more than once in docs/api.md: {repeated}"


def test_api_md_matches_the_served_openapi_document(served_openapi):
    documented, operations = set(doc_rows()), openapi_operations(served_openapi)
    assert documented == operations, _difference(documented, operations, "docs/api.md", "/v1/openapi.json")


def test_api_md_matches_the_app_routes(app, served_openapi):
    documented = set(doc_rows())
    routes = flask_routes(app)
    assert documented == routes, _difference(documented, routes, "docs/api.md", "the Flask url_map")


def test_console_md_documents_the_console_routes(app, served_openapi):
    """Each console page is a row of docs/console.md, and none is an API operation."""
    documented = set(doc_rows(CONSOLE_MD))
    pages = flask_routes(app, html=True)
    assert pages, "the console blueprint registered no route"
    assert documented == pages, _difference(documented, pages, "docs/console.md", "the console blueprint")
    assert not pages & openapi_operations(served_openapi)


def _resolve(document, node):
    """A local $ref ('#/components/parameters/X') replaced by what it names."""
    while isinstance(node, dict) and "$ref" in node:
        target = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def test_openapi_path_parameters_are_declared(served_openapi):
    """Each {name} of a path is a declared path parameter of its operations, and the
    other way round, so the names in docs/api.md are the ones clients see."""
    problems = []
    for path, item in served_openapi["paths"].items():
        in_path = set(re.findall(r"{([^{}]+)}", path))
        for method, operation in item.items():
            if method.upper() not in HTTP_METHODS:
                continue
            parameters = [_resolve(served_openapi, p)
                          for p in operation.get("parameters", []) + item.get("parameters", [])]
            declared = {p["name"] for p in parameters if p.get("in") == "path"}
            if declared != in_path:
                problems.append(f"{method.upper()} {path}: path has {sorted(in_path)}, "
                                f"parameters declare {sorted(declared)}")
    assert not problems, "\n".join(problems)


def _shipped_text_files():
    yield ROOT / "README.md"
    for folder in ("docs", "livepatch_app"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".so"):
                yield path


def test_no_pointer_outside_the_repository():
    outside = re.compile(r"(?:\.\./)+shared\b|/work/shared\b")
    hits = []
    for path in _shipped_text_files():
        try:
            text = path.read_text("utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if outside.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not hits, "paths that exist only outside this repository:\n" + "\n".join(hits)


def test_readme_and_docs_links_resolve():
    """Relative markdown links in README.md and docs/*.md name files of the repository."""
    link = re.compile(r"\]\((?!https?://|#|mailto:)([^)#\s]+)(?:#[^)]*)?\)")
    missing = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in link.findall(page.read_text("utf-8")):
            if not (page.parent / target).exists():
                missing.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not missing, "broken links:\n" + "\n".join(missing)


# Credentials that auth_throttle.py throttles: admin Basic and sessions, client and sync tokens.
THROTTLED_SCHEMES = {"adminBasic", "adminBearer", "authTokenBearer", "machineBearer", "syncBearer"}


def test_throttled_operations_declare_429_with_retry_after(served_openapi):
    """Every operation taking admin or client credentials can answer 429 too-many-attempts."""
    missing = []
    for path, item in served_openapi["paths"].items():
        for method, operation in item.items():
            if method.upper() not in HTTP_METHODS:
                continue
            schemes = {name for requirement in operation.get("security", []) for name in requirement}
            if schemes & THROTTLED_SCHEMES and "429" not in operation.get("responses", {}):
                missing.append(f"{method.upper()} {path}")
    assert not missing, "operations without a 429 response:\n" + "\n".join(missing)
    response = _resolve(served_openapi, {"$ref": "#/components/responses/TooManyAttempts"})
    assert "Retry-After" in response["headers"]
    assert "too-many-attempts" in API_MD.read_text("utf-8")


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method.upper() in HTTP_METHODS:
                yield f"{method.upper()} {path}", item, operation


def test_openapi_validates_as_openapi_3(served_openapi):
    from openapi_spec_validator import validate

    validate(served_openapi)


def test_every_operation_documents_the_common_answers(served_openapi):
    """400 invalid-text, 413 body-too-large and 503 can meet any request; 401 any request
    to a secured operation."""
    problems = []
    for name, _, operation in _operations(served_openapi):
        expected = {"400", "413", "503"}
        if operation.get("security"):
            expected.add("401")
        missing = expected - set(operation["responses"])
        if missing:
            problems.append(f"{name}: no {sorted(missing)} response")
    assert not problems, "\n".join(problems)


def test_every_success_answer_has_a_body_schema(served_openapi):
    """Each operation has a 2xx answer, and each 2xx answer says what its body holds
    (a schema per media type), so schemathesis can check the bodies the server sends."""
    problems = []
    for name, _, operation in _operations(served_openapi):
        successes = {status: _resolve(served_openapi, answer)
                     for status, answer in operation["responses"].items() if status.startswith("2")}
        if not successes:
            problems.append(f"{name}: no 2xx answer")
        for status, answer in successes.items():
            content = answer.get("content") or {}
            if not content or any("schema" not in media for media in content.values()):
                problems.append(f"{name} {status}: no body schema")
    assert not problems, "\n".join(problems)


def test_path_parameters_have_patterns(served_openapi):
    """What a path segment may hold is part of the contract (the server answers 400 to the rest)."""
    problems = []
    for name, item, operation in _operations(served_openapi):
        for parameter in operation.get("parameters", []) + item.get("parameters", []):
            parameter = _resolve(served_openapi, parameter)
            schema = _resolve(served_openapi, parameter.get("schema", {}))
            if parameter.get("in") == "path" and "pattern" not in schema and "enum" not in schema:
                problems.append(f"{name}: path parameter {parameter['name']} has no pattern")
    assert not problems, "\n".join(problems)


def test_openapi_has_no_null_values(served_openapi):
    """An unquoted comma in a YAML flow mapping splits a description into a stray
    `key: null` entry, which is not valid OpenAPI."""
    nulls = []

    def walk(node, where):
        if isinstance(node, dict):
            for key, value in node.items():
                if value is None:
                    nulls.append(f"{where}/{key}")
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}[{index}]")

    walk(served_openapi, "")
    assert not nulls, "null values (unquoted commas?):\n" + "\n".join(nulls)
