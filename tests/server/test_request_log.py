"""Machine ids stay out of the log whatever the answer: paths that carry one are
logged by route template, also when no route answered them (a wrong method's 405,
an unknown path's 404 under a client prefix), in request and security lines alike.
Read from the log output itself (the JSON lines the server writes)."""

import json
import logging

from livepatch_app.logs import JsonFormatter

MACHINE = "0123456789abcdef0123456789abcdef"


def _log_lines(caplog):
    formatter = JsonFormatter()
    return [formatter.format(record) for record in caplog.records if record.name.startswith("livepatch")]


def test_wrong_methods_and_unknown_paths_log_no_machine_id(server, caplog):
    caplog.set_level(logging.INFO)
    asked = [
        ("GET", f"/v1/client/{MACHINE}/updates", 405, "/v1/client/<machine_id>/updates"),
        ("DELETE", f"/v1/client/{MACHINE}", 405, "/v1/client/<machine_id>"),
        ("POST", f"/v1/client/{MACHINE}/info", 405, "/v1/client/<machine_id>/info"),
        ("POST", f"/api/machine/{MACHINE}", 405, "/api/machine/<machine_id>"),
        ("GET", f"/v1/admin/machines/{MACHINE}", 405, "/v1/admin/machines/<machine_id>"),
        ("GET", f"/v1/client/{MACHINE}/nothing", 404, "/v1/client/<unmatched>"),
        ("GET", f"/api/machine/{MACHINE}/x", 404, "/api/machine/<unmatched>"),
        ("DELETE", f"/v1/admin/machines/{MACHINE}", 404, "/v1/admin/machines/<machine_id>"),
    ]
    for method, path, status, _ in asked:
        r = server.admin(method, path)
        assert r.status_code == status, (method, path, r.text)
    lines = _log_lines(caplog)
    output = "\n".join(lines)
    assert MACHINE not in output
    logged = [(entry["method"], entry["path"], entry["status"])
              for entry in map(json.loads, lines) if entry["msg"] == "request"]
    assert logged == [(method, template, status) for method, _, status, template in asked]
    # The admin's DELETE is also a security line: by template too.
    security = [json.loads(line) for line in lines if json.loads(line)["logger"] == "livepatch.security"]
    assert {entry["path"] for entry in security} == {"/v1/admin/machines/<machine_id>"}
