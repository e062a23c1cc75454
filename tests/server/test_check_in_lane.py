"""The check-in lane (api/check_in_lane.py) answers a plain check-in without Flask,
and must answer exactly as the client blueprint's view does: each case here sends
the same request through the lane and straight to Flask (the lane's own
`wsgi_app`), on the real app and its PostgreSQL, and compares status, headers and
body. Whatever is not plainly in order must reach the view, which is counted."""

import io
import json
import time
import uuid

import pytest
from werkzeug.test import EnvironBuilder

from livepatch_app.api.check_in_lane import CheckInLane
from livepatch_app.auth_throttle import AuthThrottle
from livepatch_app.context import services

from test_clients import KERNEL, add_patch, auth_token, bearer, enable

P1 = "livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2"
REPORT = {"kernel": KERNEL, "architecture": "x86_64", "patch-state": "applied", "patch-version": "107.1",
          "client-version": "10.8.1", "uptime": 3600, "boot-time": None, "cpu-model": "EPYC"}


class Lane:
    """The server's lane, with a count of the requests it handed to Flask."""

    def __init__(self, server):
        lane = server.app.wsgi_app.app  # inside ClientAddress (app.py)
        assert isinstance(lane, CheckInLane)
        self.lane, self.flask = lane, lane.wsgi_app
        self.handed_over = 0

    def _counted(self, environ, start_response):
        self.handed_over += 1
        return self.flask(environ, start_response)

    def both(self, **request):
        """(the lane's answer, the view's answer, whether the lane handed it over)."""
        self.lane.wsgi_app, before = self._counted, self.handed_over
        try:
            through_lane = _call(self.lane, request)
        finally:
            self.lane.wsgi_app = self.flask
        return through_lane, _call(self.flask, request), self.handed_over > before


def _call(app, request):
    request = dict(request)
    extra = request.pop("environ", {})
    environ = EnvironBuilder(**request).get_environ()
    environ.update(REMOTE_ADDR="192.0.2.7", **extra)
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, sorted(headers)

    body = b"".join(app(environ, start_response))
    return answer["status"], answer["headers"], body


def _machine(server, tier="edge"):
    machine = uuid.uuid4().hex
    r = enable(server, auth_token(server, f"lane-{machine[:8]}", tier), machine)
    assert r.status_code == 200, r.text
    return machine, r.json()["machine-token"]


def _check_in(machine, token, body=None, legacy=False, **request):
    request.setdefault("headers", bearer(token))
    if legacy:
        return dict(path=f"/api/machine/{machine}", method="PUT", json=REPORT if body is None else body, **request)
    return dict(path=f"/v1/client/{machine}/updates", method="POST", json=REPORT if body is None else body, **request)


def test_the_lane_answers_a_check_in_as_the_view_does(server):
    add_patch(server, P1)
    lane = Lane(server)
    machine, token = _machine(server)
    cases = {
        "offer": _check_in(machine, token),
        "legacy path": _check_in(machine, token, legacy=True),
        "nothing for this kernel": _check_in(machine, token, {"kernel": "6.8.0-31.31-generic", "architecture": "amd64"}),
        "a custom kernel": _check_in(machine, token, {"kernel": "6.8.0-custom", "architecture": "arm64"}),
        "nulls and spaces": _check_in(machine, token, {"kernel": f" {KERNEL} ", "architecture": "amd64",
                                                        "patch-state": None, "uptime": None}),
    }
    for name, request in cases.items():
        through_lane, through_view, handed_over = lane.both(**request)
        assert not handed_over, name
        assert through_lane == through_view, name
        assert through_lane[0] == "200 OK", (name, through_lane)
    offered = json.loads(lane.both(**cases["offer"])[0][2])["patches"]
    assert [p["filename"] for p in offered] == [P1]
    # Each check-in, whichever way it came, is stored: 2 per case and 2 above.
    assert server.sql("SELECT count(*) FROM machine_reports WHERE machine_id = %s", (machine,))[0][0] == 12


def test_without_a_url_template_the_offer_names_the_host_asked(make_server):
    server = make_server(url_template="")
    add_patch(server, P1)
    lane = Lane(server)
    machine, token = _machine(server)
    for environ in ({"wsgi.url_scheme": "https"}, {"wsgi.url_scheme": "http"}):
        request = _check_in(machine, token, headers={**bearer(token), "Host": "patches.example:8443"},
                            environ=environ)
        through_lane, through_view, handed_over = lane.both(**request)
        assert not handed_over and through_lane == through_view
        url = json.loads(through_lane[2])["patches"][0]["url"]
        assert url == f"{environ['wsgi.url_scheme']}://patches.example:8443/v1/patches/{P1}"


def test_check_ins_through_the_lane_count_in_the_metrics(server):
    lane = Lane(server)
    machine, token = _machine(server, tier="stable")
    metrics = services(server.app).metrics
    for _ in range(3):
        assert not lane.both(**_check_in(machine, token))[2]
    text = metrics.render()
    # 3 by the lane and 3 by the view, in both the check-in count and the request metrics.
    assert 'livepatch_patch_ping_events{patch_state="applied",tier="stable"} 6\n' in text
    assert ('livepatch_server_http_request_duration_seconds_count{handler="/v1/client/<machine_id>/updates",'
            'method="POST",code="200"} 6\n') in text


def _unchunked(body):
    """A body without Content-Length (waitress gives a chunked body one; another WSGI
    server might not)."""
    return {"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": ""}


@pytest.mark.parametrize("case", [
    "no token", "unknown token", "another machine's token", "auth token", "not JSON", "a JSON list",
    "no kernel", "bad architecture", "bad patch state", "too deep", "a NUL in a string", "no length",
    "bad machine id", "trailing slash", "GET", "bad text in a header", "legacy refusal",
])
def test_what_is_not_plainly_in_order_reaches_the_view(server, case):
    lane = Lane(server)
    machine, token = _machine(server)
    _, other_token = _machine(server)
    requests = {
        "no token": _check_in(machine, token, headers={}),
        "unknown token": _check_in(machine, str(uuid.uuid4())),
        "another machine's token": _check_in(machine, other_token),
        "auth token": _check_in(machine, auth_token(server, "lane-auth")),
        "not JSON": dict(_check_in(machine, token), json=None, data=b"{kernel: 1}",
                         content_type="application/json"),
        "a JSON list": _check_in(machine, token, [REPORT]),
        "no kernel": _check_in(machine, token, {"architecture": "amd64"}),
        "bad architecture": _check_in(machine, token, {"kernel": KERNEL, "architecture": "vax"}),
        "bad patch state": _check_in(machine, token, {**REPORT, "patch-state": "fine"}),
        "too deep": _check_in(machine, token, {**REPORT, "x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}),
        "a NUL in a string": _check_in(machine, token, {**REPORT, "cpu-model": "a\u0000b"}),
        "no length": _check_in(machine, token, environ=_unchunked(json.dumps(REPORT).encode())),
        "bad machine id": _check_in("bad id!", token),
        "trailing slash": dict(_check_in(machine, token), path=f"/v1/client/{machine}/updates/"),
        "GET": dict(_check_in(machine, token), method="GET"),
        "bad text in a header": _check_in(machine, token, headers={**bearer(token), "If-None-Match": "caf\xe9"}),
        "legacy refusal": _check_in(machine, str(uuid.uuid4()), legacy=True),
    }
    through_lane, through_view, handed_over = lane.both(**requests[case])
    assert handed_over
    assert through_lane[0] == through_view[0] and not through_lane[0].startswith(("200", "5")), through_lane
    assert json.loads(through_lane[2])["code"] == json.loads(through_view[2])["code"]
    # Nothing was stored for the machine by a refused check-in.
    assert server.sql("SELECT count(*) FROM machine_reports WHERE machine_id = %s", (machine,))[0][0] == 0


def test_a_throttled_source_is_answered_by_the_view(server):
    lane = Lane(server)
    machine, token = _machine(server)
    # The app's throttle with a clock that stands still: a block, once earned, holds.
    services(server.app).auth_throttle = AuthThrottle(clock=lambda: 1000.0)
    bad = _check_in(machine, str(uuid.uuid4()))
    for _ in range(40):  # past CLIENT_SOURCE's free failures, from the one source
        if _call(lane.lane, bad)[0].startswith("429"):
            break
    else:
        pytest.fail("the source was never throttled")
    through_lane, _, handed_over = lane.both(**_check_in(machine, token))
    assert handed_over and through_lane[0].startswith("429")
    assert json.loads(through_lane[2])["code"] == "too-many-attempts"


def test_a_schema_behind_is_answered_by_the_app_hook(server):
    lane = Lane(server)
    machine, token = _machine(server)
    server.sql("DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)")
    services(server.app).schema_gate.forget()
    through_lane, through_view, handed_over = lane.both(**_check_in(machine, token))
    assert handed_over and through_lane == through_view
    assert through_lane[0].startswith("503") and json.loads(through_lane[2])["code"] == "schema-upgrade-required"
    assert server.sql("SELECT count(*) FROM machine_reports")[0][0] == 0


def test_no_free_database_connection_is_answered_once_not_waited_for_twice(make_server):
    server = make_server(dbconn_max=1)
    lane = Lane(server)
    machine, token = _machine(server)
    db = services(server.app).db
    db.wait_timeout = 1.0  # db.Database's wait for a free connection (10 s by default)
    with db.autocommit():  # the only connection, held
        started = time.monotonic()
        status, headers, body = _call(lane.lane, _check_in(machine, token))
        waited = time.monotonic() - started
        through_view = _call(lane.flask, _check_in(machine, token))
    assert status.startswith("503") and json.loads(body)["code"] == "database-unavailable"
    assert (status, headers, body) == through_view  # the app's own answer
    assert 1.0 <= waited < 2.0  # one wait, not the lane's and then the view's


def test_a_connection_lost_under_the_lane_is_answered_as_the_app_answers_it(make_server):
    """A pooled connection that died (db.Database.connection: database-unavailable, and
    the connection is dropped): the same 503 the view would give, once; the next
    check-in takes a new connection."""
    server = make_server(dbconn_max=1)
    lane = Lane(server)
    machine, token = _machine(server)
    with services(server.app).db.autocommit() as cur:
        cur.execute("SELECT pg_backend_pid() AS pid")
        pid = cur.fetchone()["pid"]
    server.sql("SELECT pg_terminate_backend(%s)", (pid,))  # the pooled connection the lane will take
    deadline = time.monotonic() + 10
    while server.sql("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))[0][0]:
        assert time.monotonic() < deadline, "the backend outlived pg_terminate_backend"
        time.sleep(0.02)
    lane.lane.wsgi_app = lane._counted
    status, _, body = _call(lane.lane, _check_in(machine, token))
    assert status.startswith("503") and json.loads(body)["code"] == "database-unavailable"
    assert server.sql("SELECT count(*) FROM machine_reports WHERE machine_id = %s", (machine,))[0][0] == 0
    assert _call(lane.lane, _check_in(machine, token))[0] == "200 OK"
    assert lane.handed_over == 0
    assert server.sql("SELECT count(*) FROM machine_reports WHERE machine_id = %s", (machine,))[0][0] == 1
