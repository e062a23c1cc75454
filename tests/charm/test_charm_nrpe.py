"""The nrpe-external-master relation (lib/charms/livepatch/nrpe.py, reactive/nrpe.py)
through whole hooks, with charmhelpers.contrib.charmsupport.nrpe unchanged: only
where it writes (its NRPE class paths) moves under the test's machine, and the
`nagios` user it looks up (which the nrpe charm's nagios-nrpe-server package adds)
is this test's user. And the Nagios plugin files/nagios/check_livepatch.py against
a server stand-in answering /debug/status and /metrics as livepatch_app/api/ops.py
does.
"""

import grp
import json
import os
import pwd
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from charmtest import ROOT

from charmhelpers.contrib.charmsupport import nrpe as ch_nrpe  # noqa: E402  (after conftest's platform patch)
from charms.livepatch import nrpe  # noqa: E402

PLUGIN = os.path.join(ROOT, "files", "nagios", "check_livepatch.py")
BIND = "127.0.0.2"
REL = "nrpe-external-master:9"


@pytest.fixture
def nagios(juju, machine, monkeypatch):
    """The machine after the nrpe charm installed nagios-nrpe-server: /etc/nagios/nrpe.d,
    /var/lib/nagios/export, a nagios user. charmhelpers' nrpe module imported the hook
    functions by name: they go to FakeJuju as hookenv's do."""
    from charmhelpers.core import hookenv

    # hookenv memoises relation data per process (@cached): this test's relations only
    monkeypatch.setattr(hookenv, "cache", {})
    for name, folder in (("nrpe_confdir", "etc/nagios/nrpe.d"), ("nagios_exportdir", "var/lib/nagios/export"),
                         ("nagios_logdir", "var/log/nagios"), ("homedir", "var/lib/nagios")):
        path = machine.path(folder)
        if name in ("nrpe_confdir", "nagios_exportdir"):
            os.makedirs(path, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)  # /var/log, /var/lib exist
        monkeypatch.setattr(ch_nrpe.NRPE, name, path)
    monkeypatch.setattr(nrpe, "PLUGIN_DIR", machine.path("usr/local/lib/nagios/plugins"))
    for name in ("config", "local_unit", "relation_ids", "relation_get", "relation_set", "log"):
        monkeypatch.setattr(ch_nrpe, name, getattr(hookenv, name))
    monkeypatch.setattr(ch_nrpe, "hook_name", lambda: os.environ.get("JUJU_HOOK_NAME", ""))
    me, my_group = pwd.getpwuid(os.getuid()), grp.getgrgid(os.getgid())
    real_pw, real_gr = pwd.getpwnam, grp.getgrnam
    monkeypatch.setattr(ch_nrpe.pwd, "getpwnam", lambda n: me if n == "nagios" else real_pw(n))
    monkeypatch.setattr(ch_nrpe.grp, "getgrnam", lambda n: my_group if n == "nagios" else real_gr(n))
    # charmhelpers' service() asks init_is_systemd(), which reads /etc/lsb-release: the
    # unit is Ubuntu with systemd (this test machine may be Debian: see conftest)
    monkeypatch.setattr("charmhelpers.core.host.init_is_systemd", lambda service_name=None: True)
    juju.bind("website", bind=BIND, ingress="10.20.30.40")
    return machine


def cfg(machine, shortname):
    with open(machine.path(f"etc/nagios/nrpe.d/check_{shortname}.cfg")) as handle:
        return handle.read()


def commands(machine):
    """{shortname: command line} as NRPE reads them from nrpe.d."""
    found = {}
    for shortname in nrpe.SHORTNAMES:
        for line in cfg(machine, shortname).splitlines():
            if line.startswith(f"command[check_{shortname}]="):
                found[shortname] = line.split("=", 1)[1]
    return found


def test_relation_writes_the_four_checks_with_the_nrpe_charms_host_name(juju, nagios):
    # The nrpe charm publishes nagios_hostname and nagios_host_context (canonical/charm-nrpe).
    juju.relate(REL, {"nrpe/0": {"nagios_hostname": "site-livepatch-0", "nagios_host_context": "site"}})
    juju.run_hook("nrpe-external-master-relation-changed", REL, "nrpe/0")
    plugin = os.path.join(nrpe.PLUGIN_DIR, "check_livepatch.py")
    assert os.access(plugin, os.X_OK)
    url = f"http://{BIND}:8080"
    assert commands(nagios) == {
        "livepatch_service": f"{plugin} service --unit livepatch",
        "livepatch_status": f"{plugin} status --url {url}",
        "livepatch_schema": f"{plugin} schema --url {url}",
        "livepatch_sync": f"{plugin} sync --url {url} --warn 2 --crit 3",
    }
    # servicegroups default to the context (config nagios_context "juju")
    assert "# servicegroups: juju\n" in cfg(nagios, "livepatch_status")
    exported = sorted(os.listdir(nagios.path("var/lib/nagios/export")))
    assert exported == [f"service__site-livepatch-0_check_{s}.cfg" for s in sorted(nrpe.SHORTNAMES)]
    with open(nagios.path("var/lib/nagios/export/service__site-livepatch-0_check_livepatch_sync.cfg")) as f:
        service = f.read()
    assert "host_name                       site-livepatch-0" in service
    assert "check_command                   check_nrpe!check_livepatch_sync" in service
    assert "{site:livepatch/0}" in service  # get_nagios_unit_name: host context and unit
    published = juju.published(REL)
    assert published["primary"] is True
    monitors = yaml.safe_load(published["monitors"])
    assert monitors == {"monitors": {"remote": {"nrpe": {
        s: {"command": f"check_{s}"} for s in nrpe.SHORTNAMES}}}}
    assert ["restart", "nagios-nrpe-server"] in nagios.systemctl_calls()


def test_nagios_context_and_servicegroups_apply(juju, nagios):
    juju.config.update(nagios_context="lab", nagios_servicegroups="livepatch,kernel", port=9090)
    juju.relate(REL, {"nrpe/0": {}})  # the nrpe charm has not published a host name yet
    juju.run_hook("config-changed")
    assert "# servicegroups: livepatch,kernel\n" in cfg(nagios, "livepatch_schema")
    assert commands(nagios)["livepatch_schema"].endswith(f"schema --url http://{BIND}:9090")
    exported = sorted(os.listdir(nagios.path("var/lib/nagios/export")))
    assert exported[0] == "service__lab-livepatch-0_check_livepatch_schema.cfg"
    with open(os.path.join(nagios.path("var/lib/nagios/export"), exported[0])) as f:
        assert "servicegroups                   livepatch,kernel" in f.read()


def test_listen_on_all_addresses_checks_localhost(juju, nagios):
    juju.config.update(listen_on_all_addresses=True)
    juju.relate(REL, {"nrpe/0": {}})
    juju.run_hook("nrpe-external-master-relation-joined", REL, "nrpe/0")
    assert commands(nagios)["livepatch_status"].endswith("status --url http://127.0.0.1:8080")


def test_relation_broken_removes_the_checks_and_the_plugin(juju, nagios):
    juju.relate(REL, {"nrpe/0": {}})
    juju.run_hook("nrpe-external-master-relation-changed", REL, "nrpe/0")
    assert len(os.listdir(nagios.path("etc/nagios/nrpe.d"))) == 4
    juju.run_hook("nrpe-external-master-relation-broken", REL)
    assert os.listdir(nagios.path("etc/nagios/nrpe.d")) == []
    assert os.listdir(nagios.path("var/lib/nagios/export")) == []
    assert not os.path.exists(os.path.join(nrpe.PLUGIN_DIR, "check_livepatch.py"))
    assert ["try-restart", "nagios-nrpe-server"] in nagios.systemctl_calls()


def test_without_the_nrpe_package_nothing_is_written(juju, nagios, monkeypatch):
    # charmhelpers' NRPE.write(): no nagios user -> logs and writes nothing
    real = pwd.getpwnam

    def getpwnam(name):
        if name == "nagios":
            raise KeyError(name)
        return real(name)

    monkeypatch.setattr(ch_nrpe.pwd, "getpwnam", getpwnam)
    juju.relate(REL, {"nrpe/0": {}})
    juju.run_hook("nrpe-external-master-relation-changed", REL, "nrpe/0")
    assert os.listdir(nagios.path("etc/nagios/nrpe.d")) == []


def test_no_relation_no_checks(juju, nagios):
    juju.run_hook("config-changed")
    assert os.listdir(nagios.path("etc/nagios/nrpe.d")) == []
    assert not os.path.exists(nrpe.PLUGIN_DIR)


# --- the plugin ------------------------------------------------------------------------

class Server:
    """Answers /debug/status and /metrics with what the test sets."""

    def __init__(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                code, body, ctype = server.answers.get(self.path, (404, "not found", "text/plain"))
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.answers = {}
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def status(self, code, body):
        self.answers["/debug/status"] = (code, json.dumps(body), "application/json")

    def metrics(self, **values):
        lines = ["# HELP x y", 'livepatch_server_requests_total{code="200"} 5']
        lines += [f"livepatch_server_{name} {value}" for name, value in values.items()]
        self.answers["/metrics"] = (200, "\n".join(lines) + "\n", "text/plain; version=0.0.4")


@pytest.fixture
def server():
    made = Server()
    yield made
    made.httpd.shutdown()
    made.httpd.server_close()


def plugin(*args, env=None):
    done = subprocess.run([sys.executable, "-S", PLUGIN, *args], capture_output=True, text=True, env=env)
    assert done.stdout.count("\n") == 1 and not done.stderr, done
    return done.returncode, done.stdout.strip()


HEALTHY = {"database": "OK", "schema": {"current": 7, "required": 7, "upgrade-required": False},
           "sync": None, "contracts": {"status": "OK"}}
PENDING = {"database": "OK", "schema": {"current": 6, "required": 7, "upgrade-required": True,
                                        "message": "schema upgrade required: run the schema-upgrade action on the leader"},
           "sync": None, "contracts": {"status": "OK"}}
NO_DB = {"database": "unreachable", "schema": None, "sync": None, "contracts": {"status": "OK"}}


def test_plugin_status_and_schema(server):
    server.status(200, HEALTHY)
    assert plugin("status", "--url", server.url) == (0, "OK: /debug/status healthy (database OK, schema 7)")
    assert plugin("schema", "--url", server.url) == (0, "OK: schema 7 current")
    server.status(503, PENDING)
    code, text = plugin("status", "--url", server.url)
    assert code == 2 and "schema upgrade required" in text and text.startswith("CRITICAL: ")
    assert plugin("schema", "--url", server.url) == (
        2, "CRITICAL: schema 6, code needs 7: run the schema-upgrade action on the leader")
    server.status(503, NO_DB)
    assert plugin("status", "--url", server.url) == (2, "CRITICAL: /debug/status HTTP 503: database unreachable")
    assert plugin("schema", "--url", server.url) == (3, "UNKNOWN: schema unknown: database unreachable")


def test_plugin_server_down_is_critical(server):
    url = server.url
    server.httpd.shutdown()
    server.httpd.server_close()
    for check in ("status", "schema", "sync"):
        code, text = plugin(check, "--url", url)
        assert code == 2 and text.startswith(f"CRITICAL: livepatch server at {url} does not answer"), text


def test_plugin_sync_age(server):
    server.metrics(sync_enabled=0)
    assert plugin("sync", "--url", server.url) == (0, "OK: patch sync disabled")
    server.metrics(sync_enabled=1, sync_interval_seconds=3600)
    assert plugin("sync", "--url", server.url)[0] == 1  # no success yet
    now = time.time()
    for age, code in ((600, 0), (3 * 3600 - 60, 1), (3 * 3600 + 60, 2)):
        server.metrics(sync_enabled=1, sync_interval_seconds=3600,
                       sync_last_success_timestamp_seconds=round(now - age, 3))
        got, text = plugin("sync", "--url", server.url)
        assert got == code, text
    assert "more than 3 intervals" in text
    code, text = plugin("sync", "--url", server.url, "--warn", "4", "--crit", "5")
    assert code == 0, text


def test_plugin_service(machine):
    # the Machine's systemctl: is-active exits 0 (active) or 3
    assert plugin("service", "--unit", "livepatch")[0] == 2
    state = json.load(open(machine.state_file))
    state["service"]["active"] = True
    json.dump(state, open(machine.state_file, "w"))
    assert plugin("service", "--unit", "livepatch")[0] == 0


def test_plugin_bad_arguments_are_unknown():
    code, text = plugin("nonsense")
    assert code == 3 and text.startswith("UNKNOWN: bad arguments: "), text
