"""The charm's helpers that touch the machine: files, the health check, addresses,
the schema CLI contract and the bootstrap's rebuild decision."""

import json
import os
import socket
import stat
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from charms.livepatch import bootstrap, network, schema, service, system


# --- files --------------------------------------------------------------------------


def test_write_file_sets_mode_and_reports_changes(tmp_path):
    path = str(tmp_path / "etc" / "livepatch.yaml")
    assert system.write_file(path, "a: 1\n", mode=0o640) is True
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert system.write_file(path, "a: 1\n", mode=0o640) is False
    assert system.write_file(path, "a: 2\n", mode=0o640) is True
    with open(path) as handle:
        assert handle.read() == "a: 2\n"
    assert [p for p in os.listdir(tmp_path / "etc")] == ["livepatch.yaml"]  # no temporary left


def test_write_file_fixes_a_loosened_mode(tmp_path):
    path = str(tmp_path / "secret.yaml")
    system.write_file(path, "x", mode=0o640)
    os.chmod(path, 0o666)
    assert system.write_file(path, "x", mode=0o640) is False
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_run_names_the_command_and_its_error():
    with pytest.raises(system.CommandFailed, match=r"sh -c failed \(exit 3\): boom"):
        system.run(["sh", "-c", "echo boom >&2; exit 3"])
    with pytest.raises(system.CommandFailed, match="not found"):
        system.run(["no-such-command-here"])


# --- health check -------------------------------------------------------------------


class Status(BaseHTTPRequestHandler):
    answer = (200, {"database": "OK", "schema": {"current": 2, "required": 2, "upgrade-required": False}})

    def log_message(self, *args):
        pass

    def do_GET(self):
        code, body = self.answer if self.path == "/debug/status" else (404, {})
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def status_server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Status)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_health_ok(status_server):
    assert service.check_health("127.0.0.1", status_server.server_address[1]).ok


def test_health_503_names_the_reason(status_server, monkeypatch):
    monkeypatch.setattr(Status, "answer", (503, {"database": "unreachable", "schema": None}))
    health = service.check_health("127.0.0.1", status_server.server_address[1])
    assert not health.ok and health.reason == "HTTP 503: database unreachable"
    monkeypatch.setattr(Status, "answer", (503, {"database": "OK", "schema": {"upgrade-required": True}}))
    health = service.check_health("127.0.0.1", status_server.server_address[1])
    assert health.reason == "HTTP 503: schema upgrade required"


def test_health_nothing_listening():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    health = service.wait_healthy("127.0.0.1", port, timeout=0.3, interval=0.1)
    assert not health.ok and health.reason == "not listening"


# --- addresses ----------------------------------------------------------------------


NETWORK_GET = {  # the shape of `network-get <endpoint>` output (canonical/operator test/test_model.py)
    "bind-addresses": [{"interface-name": "eth0", "addresses": [{"hostname": "", "value": "10.0.0.5",
                                                                  "cidr": "10.0.0.0/24"}]}],
    "egress-subnets": ["192.168.1.5/32"],
    "ingress-addresses": ["192.168.1.5", "10.0.0.5"],
}


def test_bind_and_ingress_addresses_are_read_separately():
    assert network.addresses(NETWORK_GET) == ("10.0.0.5", "192.168.1.5")


def test_one_address_stands_in_for_the_other():
    assert network.addresses({"bind-addresses": [{"addresses": [{"value": "10.0.0.6"}]}]}) == ("10.0.0.6", "10.0.0.6")
    assert network.addresses({"ingress-addresses": ["10.0.0.7"]}) == ("10.0.0.7", "10.0.0.7")
    assert network.addresses({}) == (None, None)
    assert network.addresses(None) == (None, None)


def test_endpoint_addresses_from_the_hook_tool(juju):
    juju.bind("website", bind="10.0.0.5", ingress="203.0.113.7")
    assert network.endpoint_addresses("website") == ("10.0.0.5", "203.0.113.7")
    assert juju.tool_calls("network-get") == [["network-get", "website", "--format", "yaml"]]


def test_endpoint_addresses_fall_back_on_private_address(juju):
    assert network.endpoint_addresses("website") == ("10.99.0.1", "10.99.0.1")  # no binding known


def test_listen_and_health_check_addresses():
    assert network.listen_address("10.0.0.5", all_addresses=False) == "10.0.0.5"
    assert network.listen_address("10.0.0.5", all_addresses=True) == "0.0.0.0"
    assert network.local_address("0.0.0.0") == "127.0.0.1"
    assert network.local_address("10.0.0.5") == "10.0.0.5"


# --- the schema CLI contract ----------------------------------------------------------


def fake_cli(tmp_path, script):
    """A stand-in for `<venv>/bin/python -m livepatch_app schema ...` that records its argv."""
    path = tmp_path / "python"
    path.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/argv\n{script}\n")
    path.chmod(0o755)
    return str(path)


def test_schema_version_parses_the_cli_json(tmp_path):
    cli = fake_cli(tmp_path, "echo '{\"current\": 1, \"required\": 2, \"upgrade-required\": true}'")
    state = schema.version(python=cli, config_file="/etc/livepatch/livepatch.yaml")
    assert state == (1, 2) and state.upgrade_required and not state.empty
    argv = (tmp_path / "argv").read_text().split()
    assert argv == ["-m", "livepatch_app", "schema", "version", "--config", "/etc/livepatch/livepatch.yaml"]


def test_schema_upgrade_reads_the_last_line(tmp_path):
    cli = fake_cli(tmp_path, "echo applying; echo '{\"applied\": [1, 2], \"current\": 2, \"required\": 2}'")
    assert schema.upgrade(python=cli) == (2, 2)


def test_schema_error_line_reaches_the_operator(tmp_path):
    cli = fake_cli(tmp_path, "echo 'error: database unavailable: connection refused' >&2; exit 1")
    with pytest.raises(schema.SchemaUnavailable, match="^database unavailable: connection refused$"):
        schema.version(python=cli)


def test_schema_garbage_output(tmp_path):
    with pytest.raises(schema.SchemaUnavailable, match="no version JSON"):
        schema.version(python=fake_cli(tmp_path, "echo hello"))


# --- bootstrap ------------------------------------------------------------------------


def make_venv(tmp_path, python_tag):
    venv = tmp_path / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    (venv / bootstrap.MARKER).write_text(json.dumps({"python": python_tag, "built": "2026-01-01T00:00:00Z"}))
    return str(venv)


def test_bootstrap_builds_once(tmp_path):
    assert bootstrap._needs_build(str(tmp_path / ".venv"), "install")
    venv = make_venv(tmp_path, "%d.%d" % sys.version_info[:2])
    assert not bootstrap._needs_build(venv, "config-changed")
    assert not bootstrap._needs_build(venv, "update-status")


@pytest.mark.parametrize("hook", ["upgrade-charm", "post-series-upgrade"])
def test_bootstrap_rebuilds_on_upgrade(tmp_path, hook):
    venv = make_venv(tmp_path, "%d.%d" % sys.version_info[:2])
    assert bootstrap._needs_build(venv, hook)


def test_bootstrap_rebuilds_for_another_python(tmp_path):
    assert bootstrap._needs_build(make_venv(tmp_path, "2.7"), "config-changed")


def test_venv_id_changes_with_each_build(tmp_path):
    charm = tmp_path / "charm"
    charm.mkdir()
    make_venv(tmp_path, "3.10")
    assert bootstrap.venv_id(str(charm)) == "3.10@2026-01-01T00:00:00Z"
