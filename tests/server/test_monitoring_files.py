"""The monitoring files shipped in monitoring/ (Prometheus alert rules, their
promtool unit tests, the Grafana dashboard) against what a live server's /metrics
really exposes: a rule, panel or test series naming a metric the server does not
export fails, as does a label the metric does not carry, or a `handler` matcher
that matches none of the app's route templates. Then `promtool check rules` and
`promtool test rules` (Debian's `prometheus` package; `make system-deps`).

PromQL is parsed only as far as finding names needs: strings, label matchers,
ranges and by/without/on/ignoring lists are taken out; what is left that looks
like an identifier and is not followed by `(` (a function or aggregation) and is
not a keyword is a metric name. Exceptions, made by Prometheus and not by the
server: PROMETHEUS_METRICS (`up`) and TARGET_LABELS (`job`, `instance`)."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from test_sync_downstream import patch_name, sync_token, trigger, upload

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "monitoring" / "prometheus" / "livepatch-rules.yaml"
RULE_TESTS = ROOT / "monitoring" / "prometheus" / "livepatch-rules.test.yaml"
DASHBOARD = ROOT / "monitoring" / "grafana" / "livepatch-dashboard.json"

PROMETHEUS_METRICS = {"up"}  # written by Prometheus for every scrape target
TARGET_LABELS = {"job", "instance"}  # added by Prometheus to every scraped series
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
            "offset", "inf", "nan", "atan2"}

_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_LABEL_LIST_RE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
_IDENT_RE = re.compile(r"(?<![\w.:$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
_SELECTOR_RE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{((?:[^{}\"]|\"(?:[^\"\\]|\\.)*\")*)\}")
_MATCHER_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')


def metric_names(expr):
    """The metric names a PromQL expression reads."""
    s = _STRING_RE.sub('""', expr)
    s = re.sub(r"\{[^{}]*\}", "{}", s)
    s = re.sub(r"\[[^\[\]]*\]", "[]", s)
    s = _LABEL_LIST_RE.sub(" ", s)
    s = re.sub(r"\boffset\s+-?\w+", " ", s)
    return {m[1] for m in _IDENT_RE.finditer(s) if not m[2] and m[1].lower() not in KEYWORDS}


def grouping_labels(expr):
    """Label names of by/without/on/ignoring/group_* lists."""
    s = _STRING_RE.sub('""', expr)
    return {label.strip() for m in _LABEL_LIST_RE.finditer(s) for label in m[2].split(",") if label.strip()}


def selectors(expr):
    """[(metric name, [(label, op, value)])] of the selectors with matchers."""
    found = []
    for m in _SELECTOR_RE.finditer(expr):
        found.append((m[1], [(x[1], x[2], x[3]) for x in _MATCHER_RE.finditer(m[2])]))
    return found


def test_the_promql_reader_finds_names_and_only_names():
    expr = ('histogram_quantile(0.95, sum by (le, handler) (rate(a_seconds_bucket{handler=~"/x|/y", '
            'code!="200"}[$__rate_interval]))) / on (job) group_left (tier) b_total offset 5m '
            '> 3 * max without(instance) (c) and time() - d[1h:5m] unless up{job="lp"} > bool 1e3')
    assert metric_names(expr) == {"a_seconds_bucket", "b_total", "c", "d", "up"}
    assert grouping_labels(expr) == {"le", "handler", "job", "tier", "instance"}
    assert selectors(expr) == [("a_seconds_bucket", [("handler", "=~", "/x|/y"), ("code", "!=", "200")]),
                               ("up", [("job", "=", "lp")])]


def load_rules():
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def load_dashboard():
    return json.loads(DASHBOARD.read_text())


def dashboard_queries(dashboard):
    """[(where, PromQL)] of every panel target and templating query."""
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            queries.append((f"panel {panel['title']!r} target {target['refId']}", target["expr"]))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query)
            assert match, f"variable {variable['name']}: unexpected query {query!r}"
            queries.append((f"variable {variable['name']}", f"sum by ({match[2]}) ({match[1]})"))
    return queries


def test_rules_are_well_formed():
    rules = load_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), names
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert rule["alert"].startswith("Livepatch") and rule["expr"].strip(), rule
        assert re.fullmatch(r"\d+[smhd]", rule["for"]), rule
        assert rule["labels"]["severity"] in ("critical", "warning"), rule
        assert rule["annotations"]["summary"].strip(), rule
        assert metric_names(rule["expr"]), rule  # reads something
    # What issue 13 asks for, each with a rule.
    assert {"LivepatchServerDown", "LivepatchDatabaseUnreachable", "LivepatchSchemaUpgradePending",
            "LivepatchSyncFailing", "LivepatchSyncStale", "LivepatchCheckInErrors",
            "LivepatchPatchCacheFailures"} <= set(names)


def test_dashboard_is_well_formed():
    dashboard = load_dashboard()
    assert dashboard["title"] and dashboard["uid"] and isinstance(dashboard["schemaVersion"], int)
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "instance"} <= variables
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    graphs = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert len(graphs) >= 10
    for panel in graphs:
        assert panel["type"] in ("timeseries", "stat"), panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"} and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"] and target["refId"], panel["title"]
            assert metric_names(target["expr"]), (panel["title"], target["expr"])
            # Every selector is narrowed to the units picked in the dashboard.
            assert all(dict((m[0], m[2]) for m in matchers).get("instance") == "$instance"
                       for _, matchers in selectors(target["expr"])), (panel["title"], target["expr"])
    titles = " / ".join(panel["title"] for panel in graphs).lower()
    for wanted in ("per tier", "patch state", "downloads", "bytes", "sync runs", "latency"):
        assert wanted in titles, wanted


def parse_exposition(text):
    """{metric name: set of label names} of the sample lines of a /metrics answer."""
    exposed = {}
    sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = sample.match(line)
        assert match, f"not a sample line: {line!r}"
        float(match[3])
        labels = {m[1] for m in _MATCHER_RE.finditer(match[2] or "")}
        exposed.setdefault(match[1], set()).update(labels)
    return exposed


@pytest.fixture
def exposed(make_server, tmp_path):
    """/metrics of a server with traffic behind every labelled series: a sync from a
    live upstream, check-ins in two tiers, downloads (found and not), and a patch
    cache that cannot be used (its path is a file) -> ({name: label names}, server)."""
    upstream = make_server()
    upload(upstream, patch_name(), tier="stable")
    broken_cache = tmp_path / "not-a-folder"
    broken_cache.write_text("")
    server = make_server(patch_sync_enabled=True, sync_upstream=upstream.url,
                         sync_token=sync_token(upstream, "stable"), patch_cache_path=str(broken_cache))
    assert trigger(server)["result"] == "success"
    for tier in ("edge", "stable"):
        r = server.admin("POST", "/v1/admin/auth-token", json={"id": f"tok-{tier}", "tier": tier})
        auth = {"Authorization": "Bearer " + r.json()["token"]}
        machine = f"m-{tier}"
        r = server.request("PUT", f"/v1/client/{machine}", headers=auth)
        machine_auth = {"Authorization": "Bearer " + r.json()["machine-token"]}
        r = server.request("POST", f"/v1/client/{machine}/updates", headers=machine_auth,
                           json={"kernel": "5.15.0-107.117-generic", "architecture": "amd64",
                                 "patch-state": "applied", "patch-version": "107.1", "uptime": 5})
        assert r.status_code == 200, r.text
    assert server.request("GET", f"/v1/patches/{patch_name()}").status_code == 200
    assert server.request("GET", f"/v1/patches/{patch_name(version='1.1')}").status_code == 404
    text = server.request("GET", "/metrics").text
    return parse_exposition(text), server


def _check(where, expr, exposed, routes):
    problems = []
    for name in metric_names(expr) - PROMETHEUS_METRICS:
        if name not in exposed:
            problems.append(f"{where}: metric {name} is not in /metrics")
    for name, matchers in selectors(expr):
        known = TARGET_LABELS | exposed.get(name, set())
        for label, op, value in matchers:
            if name in PROMETHEUS_METRICS:
                continue
            if label not in known:
                problems.append(f"{where}: {name} has no label {label} (it has {sorted(known)})")
            if label == "handler":
                pattern = value if op in ("=~", "!~") else re.escape(value)
                if not any(re.fullmatch(pattern, route) for route in routes):
                    problems.append(f"{where}: handler {value!r} matches no route template")
    all_labels = TARGET_LABELS.union(*exposed.values())
    for label in grouping_labels(expr) - all_labels:
        problems.append(f"{where}: no metric has the label {label}")
    return problems


def test_every_name_the_files_use_is_exposed(exposed):
    exposed, server = exposed
    routes = {rule.rule for rule in server.app.url_map.iter_rules()} | {"unmatched"}
    problems = []
    for rule in load_rules():
        problems += _check(f"rule {rule['alert']}", rule["expr"], exposed, routes)
    for where, expr in dashboard_queries(load_dashboard()):
        problems += _check(f"dashboard {where}", expr, exposed, routes)
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for series in case["input_series"]:
            problems += _check(f"rule test {case['name']!r} series", series["series"], exposed, routes)
    assert not problems, "\n".join(problems)
    # The check has teeth: a name the server does not export is caught.
    assert _check("probe", 'rate(livepatch_server_made_up_total{instance="x"}[5m])', exposed, routes)
    assert _check("probe", 'livepatch_patch_ping_events{teir="edge"}', exposed, routes)
    assert _check("probe", 'x_count{handler="/v1/nowhere"}', {"x_count": {"handler"}}, routes)


def skip_or_fail(reason):
    """A missing prerequisite skips a developer's ad-hoc run, but fails `make test`
    and CI (which set LIVEPATCH_REQUIRE_ALL_TESTS): there, a skip would hide a gap."""
    if os.environ.get("LIVEPATCH_REQUIRE_ALL_TESTS") or os.environ.get("CI"):
        pytest.fail("cannot run: " + reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def promtool():
    path = shutil.which("promtool")
    if path is None:
        skip_or_fail("promtool is not installed (Debian's prometheus package: make system-deps)")
    return path


def test_promtool_checks_and_tests_the_rules(promtool):
    for args in (["check", "rules", RULES.name], ["test", "rules", RULE_TESTS.name]):
        result = subprocess.run([promtool, *args], cwd=RULES.parent, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}{result.stderr}"
        assert "SUCCESS" in result.stdout
