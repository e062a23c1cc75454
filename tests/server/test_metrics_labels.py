"""/metrics cannot be grown by clients: every label value of the request histogram
comes from a closed set (HTTP methods, the app's route templates, status codes),
whatever methods and paths clients send; anything else is folded into `other`
(methods) or `unmatched` (paths)."""

import random
import re
import string

import requests

SERIES_RE = re.compile(r'^livepatch_server_http_request_duration_seconds_count\{handler="(.*?)",method="(.*?)",'
                       r'code="(.*?)"\} ', re.M)
METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "other"}


def _series(server):
    return set(SERIES_RE.findall(server.request("GET", "/metrics").text))


def test_random_methods_and_paths_do_not_grow_metrics(server):
    rng = random.Random(11)
    word = lambda n: "".join(rng.choice(string.ascii_uppercase) for _ in range(n))  # noqa: E731
    for _ in range(100):  # a warm-up of ordinary traffic
        server.request("GET", "/debug/info")
    size_before = len(server.request("GET", "/metrics").text)
    session = requests.Session()
    for _ in range(400):
        method = word(rng.randint(3, 12))
        path = rng.choice(["/", "/v1/admin/tiers", "/v1/client/" + word(8).lower() + "/info", "/" + word(20).lower(),
                           "/v1/" + word(6).lower() + "/" + word(6).lower()])
        response = session.request(method, server.url + path, timeout=10)
        assert response.status_code in (400, 401, 404, 405), (method, path, response.status_code)
        response = session.get(server.url + "/" + word(16).lower(), timeout=10)
        assert response.status_code == 404
    series = _series(server)
    templates = {rule.rule for rule in server.app.url_map.iter_rules()} | {"unmatched"}
    assert {method for _, method, _ in series} <= METHODS, series
    assert {handler for handler, _, _ in series} <= templates, series
    assert all(re.fullmatch(r"[1-5]\d\d", code) for _, _, code in series), series
    # 800 odd requests added a handful of series, not hundreds.
    assert len(series) < 20, series
    grown = len(server.request("GET", "/metrics").text) - size_before
    assert grown < 20_000, f"/metrics grew by {grown} bytes"
