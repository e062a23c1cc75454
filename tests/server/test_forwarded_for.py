"""Behind a reverse proxy: the request log names the client from X-Forwarded-For when,
and only when, the request came from a configured trusted proxy."""

import logging

FORWARDED = {"X-Forwarded-For": "198.51.100.23"}


def request_lines(caplog, path):
    return [r.fields for r in caplog.records
            if r.name == "livepatch.http" and getattr(r, "fields", {}).get("path") == path]


def test_forwarded_for_from_a_trusted_proxy_names_the_client(make_server, caplog):
    caplog.set_level(logging.INFO, logger="livepatch.http")
    server = make_server(trusted_proxies="127.0.0.1")  # the test client plays haproxy
    assert server.request("GET", "/debug/info", headers=FORWARDED).status_code == 200
    assert server.request("GET", "/debug/info").status_code == 200
    lines = request_lines(caplog, "/debug/info")
    assert [line["remote"] for line in lines] == ["198.51.100.23", "127.0.0.1"]


def test_forwarded_for_from_anyone_else_is_ignored(make_server, caplog):
    caplog.set_level(logging.INFO, logger="livepatch.http")
    server = make_server(trusted_proxies="10.0.0.0/8")
    assert server.request("GET", "/debug/info", headers=FORWARDED).status_code == 200
    assert [line["remote"] for line in request_lines(caplog, "/debug/info")] == ["127.0.0.1"]
