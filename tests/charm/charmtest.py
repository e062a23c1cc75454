"""Helpers shared by the charm's tests (a module name no other test folder uses).

FakeJuju stands in for Juju around one unit (the environment, not the code under
test): the hook tools behind charmhelpers.core.hookenv, the hook tools the charm
runs itself (network-get, secret-get: small executables on PATH), JUJU_VERSION,
and a hook runner that goes through charms.reactive's main() with the real
handlers. Machine stands in for the unit's machine: systemd (a systemctl on
PATH), the files the charm writes (under a temporary root), the server's schema
CLI and a /debug/status endpoint in place of the service. The Ubuntu Pro
contracts server is tests/fakecontracts.py (FakeContracts, the conftest's
contracts_server fixture); attach() makes a real attach request to it, and
pro_attach() leaves the files the Pro client leaves after `pro attach`.
"""

import grp
import importlib.util
import json
import os
import pwd
import sys
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_interface(name, role):
    """Import interfaces/<name>/<role>.py as the package charm build makes of it."""
    package = f"relations.{name}"
    folder = os.path.join(ROOT, "interfaces", name)
    for pkg, path in (("relations", os.path.join(ROOT, "interfaces")), (package, folder)):
        if pkg not in sys.modules:
            spec = importlib.util.spec_from_loader(pkg, loader=None, is_package=True)
            module = importlib.util.module_from_spec(spec)
            module.__path__ = [path]
            sys.modules[pkg] = module
    spec = importlib.util.spec_from_file_location(f"{package}.{role}", os.path.join(folder, f"{role}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


INTERFACES = (("pgsql", "requires"), ("postgresql_client", "requires"), ("http", "provides"),
              ("ua-token", "requires"))

# A hook tool the charm runs as a program: reads FakeJuju's state file, logs its argv.
# Standard library only (-S: quick to start); JSON output is YAML too.
TOOL = """#!{python} -S
import json, os, sys
state_file = os.environ["FAKE_JUJU_STATE"]
tool, args = os.path.basename(sys.argv[0]), sys.argv[1:]
with open(state_file) as handle:
    state = json.load(handle)
with open(state_file + ".calls", "a") as handle:
    handle.write(json.dumps([tool] + args) + "\\n")
if tool == "network-get":
    info = state["network"].get(args[0])
    if info is None:
        sys.exit('ERROR no network config found for binding "%s"' % args[0])
    print(json.dumps(info, indent=2))
elif tool == "secret-get":
    content = state["secrets"].get(args[0])
    if content is None:
        sys.exit('ERROR secret "%s" not found' % args[0])
    if "--format=json" not in args:
        sys.exit("fake secret-get: only --format=json")
    print(json.dumps(content))
else:
    sys.exit("fake hook tool: no " + tool)
"""


def network_info(bind, ingress):
    """`network-get <endpoint>` output (the shape canonical/operator's test/test_model.py
    feeds ops): the unit's bind address on the space, and the ingress address others use."""
    return {
        "bind-addresses": [{"mac-address": "", "interface-name": "eth0",
                            "addresses": [{"hostname": "", "value": bind, "cidr": bind + "/24"}]}],
        "egress-subnets": [ingress + "/32"],
        "ingress-addresses": [ingress],
    }


class FakeJuju:
    """Juju around one local unit: relation data, config, leader data, statuses, hook tools."""

    def __init__(self, unit="livepatch/0", leader=True):
        self.unit = unit
        self.leader = leader
        self.relations = {}
        self.config = defaults()
        self.leader_data = {}
        self.statuses = []  # (state, message) in the order set
        self.ports = set()
        self.network = {}  # endpoint -> network-get output
        self.secrets = {}  # uri -> content
        self.state_file = None
        self.params = {}  # action parameters
        self.results = {}
        self.failure = None
        self.reactive_runs = 0  # actions handing over to the reactive handlers
        self.machine = None  # set by the machine fixture: hooks need it

    @property
    def app(self):
        return self.unit.split("/")[0]

    def relate(self, rid, units, app_data=None, local=None):
        """units: {remote unit name: its data}; local: our unit's own settings."""
        self.relations[rid] = {
            "units": {name: dict(data) for name, data in units.items()},
            "app_data": dict(app_data or {}),
            "local": dict(local or {}),
            "local_app": {},
        }
        return rid

    # the hookenv functions the Endpoint classes use
    def relation_ids(self, reltype=None):
        return sorted(rid for rid in self.relations if reltype is None or rid.split(":")[0] == reltype)

    def related_units(self, relid=None):
        return sorted(self.relations[relid]["units"])

    def relation_get(self, attribute=None, unit=None, rid=None, app=None):
        relation = self.relations[rid]
        if app is not None:
            data = relation["local_app"] if app == self.app else relation["app_data"]
        elif unit == self.unit:
            data = relation["local"]
        else:
            data = relation["units"].get(unit, {})
        data = dict(data)
        return data if attribute in (None, "-") else data.get(attribute)

    def relation_set(self, relation_id=None, relation_settings=None, app=False, **kwargs):
        if app and not self.leader:
            raise RuntimeError("relation-set --app: not the leader")
        settings = dict(relation_settings or {}, **kwargs)
        target = self.relations[relation_id]["local_app" if app else "local"]
        for key, value in settings.items():
            if value in (None, ""):
                target.pop(key, None)
            else:
                target[key] = value

    def published(self, rid, app=False):
        return self.relations[rid]["local_app" if app else "local"]

    # config, leadership, status, ports
    def config_get(self, scope=None):
        from charmhelpers.core import hookenv

        config = hookenv.Config(dict(self.config))
        config.implicit_save = False  # it would write .juju-persistent-config into the repository
        return config if scope is None else config.get(scope)

    def leader_get(self, attribute=None):
        return dict(self.leader_data) if attribute in (None, "-") else self.leader_data.get(attribute)

    def leader_set(self, settings=None, **kwargs):
        if not self.leader:
            raise RuntimeError("leader-set: not the leader")
        for key, value in dict(settings or {}, **kwargs).items():
            if value in (None, ""):
                self.leader_data.pop(key, None)
            else:
                self.leader_data[key] = str(value)

    def status_set(self, workload_state, message, application=False):
        self.statuses.append((workload_state, message))

    @property
    def status(self):
        return self.statuses[-1] if self.statuses else None

    # hook tools the charm runs as programs
    def bind(self, endpoint, bind, ingress):
        """Give `network-get <endpoint>` a bind address and a (different) ingress address."""
        self.network[endpoint] = network_info(bind, ingress)
        self._save()

    def add_secret(self, content, uri=None):
        uri = uri or f"secret:{len(self.secrets) + 1:020d}"
        self.secrets[uri] = dict(content)
        self._save()
        return uri

    def _save(self):
        if self.state_file:
            with open(self.state_file, "w") as handle:
                json.dump({"network": self.network, "secrets": self.secrets}, handle)

    def tool_calls(self, tool=None):
        try:
            with open(self.state_file + ".calls") as handle:
                calls = [json.loads(line) for line in handle]
        except FileNotFoundError:
            return []
        return [call for call in calls if tool is None or call[0] == tool]

    def install(self, monkeypatch, folder):
        """Put this fake behind hookenv and on PATH (hook tools) for one test."""
        from charmhelpers.core import hookenv

        for name in ("relation_ids", "related_units", "relation_get", "relation_set", "leader_get",
                     "leader_set", "status_set"):
            monkeypatch.setattr(hookenv, name, getattr(self, name))
        monkeypatch.setattr(hookenv, "config", self.config_get)
        monkeypatch.setattr(hookenv, "local_unit", lambda: self.unit)  # tests switch sides
        monkeypatch.setattr(hookenv, "is_leader", lambda: self.leader)
        monkeypatch.setattr(hookenv, "log", lambda *args, **kwargs: None)
        monkeypatch.setattr(hookenv, "unit_get", lambda attribute: "10.99.0.1")
        monkeypatch.setattr(hookenv, "open_port", lambda port, protocol="TCP": self.ports.add(port))
        monkeypatch.setattr(hookenv, "close_port", lambda port, protocol="TCP": self.ports.discard(port))
        monkeypatch.setattr(hookenv, "application_version_set", lambda version: None)
        monkeypatch.setattr(hookenv, "action_get",
                            lambda key=None: self.params.get(key) if key else dict(self.params))
        monkeypatch.setattr(hookenv, "action_set", lambda values: self.results.update(values))
        monkeypatch.setattr(hookenv, "action_fail", lambda message: setattr(self, "failure", message))
        monkeypatch.setenv("CHARM_DIR", ROOT)  # metadata.yaml tells relation roles; reactive/ the handlers
        monkeypatch.setenv("JUJU_CHARM_DIR", ROOT)
        monkeypatch.setenv("JUJU_VERSION", "3.4.5")
        for name in ("JUJU_CHARM_HTTP_PROXY", "JUJU_CHARM_HTTPS_PROXY", "JUJU_CHARM_NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        tools = os.path.join(folder, "juju-tools")
        os.makedirs(tools, exist_ok=True)
        script = os.path.join(tools, "fake-hook-tool")
        with open(script, "w") as handle:
            handle.write(TOOL.format(python=sys.executable))
        os.chmod(script, 0o755)
        for tool in ("network-get", "secret-get"):
            os.symlink("fake-hook-tool", os.path.join(tools, tool))
        monkeypatch.setenv("PATH", tools + os.pathsep + os.environ.get("PATH", ""))
        self.state_file = os.path.join(folder, "juju-state.json")
        monkeypatch.setenv("FAKE_JUJU_STATE", self.state_file)
        self._save()
        # What this test registers (hookenv.Config adds an atexit save) stays in this test.
        atstart, atexit = _reactive_registrations()
        monkeypatch.setattr(hookenv, "_atstart", list(atstart))
        monkeypatch.setattr(hookenv, "_atexit", list(atexit))
        self._monkeypatch = monkeypatch

    def run_hook(self, name, relation_id=None, remote_unit=None):
        """Run one hook the way the built charm's hooks do after the bootstrap:
        the config.* flags, then charms.reactive's main() with reactive/livepatch.py."""
        import charms.reactive
        from charmhelpers.core import hookenv

        from charms.livepatch import configflags

        if self.machine is None:  # the handlers would touch this very machine (useradd, systemctl)
            raise RuntimeError("run_hook needs a Machine (the machine fixture)")
        for name_role in INTERFACES:
            if f"relations.{name_role[0]}.{name_role[1]}" not in sys.modules:
                load_interface(*name_role)
        mp = self._monkeypatch
        mp.setenv("JUJU_HOOK_NAME", name)
        for var, value in (("JUJU_RELATION_ID", relation_id), ("JUJU_REMOTE_UNIT", remote_unit),
                           ("JUJU_RELATION", relation_id.split(":")[0] if relation_id else None)):
            if value:
                mp.setenv(var, value)
            else:
                mp.delenv(var, raising=False)
        # charms.reactive registers its start and exit work once, at import; main() consumes it.
        atstart, atexit = _reactive_registrations()
        mp.setattr(hookenv, "_atstart", list(atstart))
        mp.setattr(hookenv, "_atexit", list(atexit))
        configflags.register()
        charms.reactive.main()

    def run_action(self, name, **params):
        from charms.livepatch import actions

        self.params, self.results, self.failure = dict(params), {}, None
        self._monkeypatch.setenv("JUJU_HOOK_NAME", "")
        # What the action hands over to is the reactive loop: run_hook() covers it.
        self._monkeypatch.setattr("charms.livepatch.unit.run_reactive", self._count_reactive)
        actions.main(name)

    def _count_reactive(self):
        self.reactive_runs += 1

    def outputs(self):
        """Everything an action showed the operator."""
        return repr((self.results, self.failure))


_REGISTRATIONS = []


def remember_reactive_registrations():
    """Keep charms.reactive's atstart/atexit work (endpoints, automatic flags), as it registers
    it at import; conftest calls this once, before any test (or main()) adds or consumes any."""
    import charms.reactive  # noqa: F401  (registers them)
    from charmhelpers.core import hookenv

    if not _REGISTRATIONS:
        _REGISTRATIONS.extend([list(hookenv._atstart), list(hookenv._atexit)])


def _reactive_registrations():
    assert _REGISTRATIONS, "conftest calls remember_reactive_registrations() first"
    return _REGISTRATIONS


class Machine:
    """The unit's machine, as far as the charm touches it.

    systemctl on PATH keeps the service's state (active, enabled) and logs each
    call; the charm's files go under ``root``; the server's schema CLI is a
    script answering ``schema_state``; ``serve(host)`` answers GET /debug/status
    on that address in place of the running service.
    """

    SYSTEMCTL = """#!{python} -S
import json, os, sys
state_file, args = os.environ["FAKE_MACHINE_STATE"], sys.argv[1:]
with open(state_file) as handle:
    state = json.load(handle)
with open(state_file + ".calls", "a") as handle:
    handle.write(json.dumps(args) + "\\n")
verb = args[0]
unit = state["service"]
if verb == "daemon-reload":
    pass
elif verb == "is-active":
    sys.exit(0 if unit["active"] else 3)
elif not os.path.exists(state["unit_file"]):
    sys.exit("Failed to %s %s.service: Unit %s.service not found." % (verb, args[-1], args[-1]))
elif verb in ("start", "restart"):
    unit["active"] = True
elif verb == "stop":
    unit["active"] = False
elif verb in ("enable", "disable"):
    unit["enabled"] = verb == "enable"
else:
    sys.exit("fake systemctl: no " + verb)
with open(state_file, "w") as handle:
    json.dump(state, handle)
"""

    def __init__(self, monkeypatch, folder):
        from charms.livepatch import paths

        self.root = os.path.join(folder, "machine")
        self.paths = paths
        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        for name, value in (
            ("ADMIN", user), ("ADMIN_GROUP", group), ("USER", user), ("GROUP", group),
            ("CONFIG_DIR", self.path("etc/livepatch")),
            ("CONFIG_FILE", self.path("etc/livepatch/livepatch.yaml")),
            ("UNIT_FILE", self.path("etc/systemd/system/livepatch.service")),
            ("STATE_DIR", self.path("var/lib/livepatch")),
            ("CACHE_DIR", self.path("var/cache/livepatch")),
        ):
            monkeypatch.setattr(paths, name, value)
        self.venv = self.path("venv")
        os.makedirs(self.venv)
        monkeypatch.setattr(paths, "venv_dir", lambda charm=None: self.venv)
        self.build_venv("3.10")
        cli = self.path("venv-python")
        self.schema_file = self.path("schema.json")
        self.adopt_file = self.path("adopt.json")
        self.set_adopt()
        with open(cli, "w") as handle:
            # `storage adopt` (patchstore.py) answers adopt.json, exit adopt.rc; the rest schema.json
            handle.write(f"#!/bin/sh\ncase \"$*\" in *'storage adopt'*)\n"
                         f"  echo \"$*\" >> {self.adopt_file}.calls; cat {self.adopt_file}; "
                         f"exit $(cat {self.adopt_file}.rc);;\nesac\ncat {self.schema_file}\n")
        os.chmod(cli, 0o755)
        monkeypatch.setattr(paths, "venv_python", lambda charm=None: cli)
        self.set_schema(3, 3)

        tools = self.path("bin")
        os.makedirs(tools)
        with open(os.path.join(tools, "systemctl"), "w") as handle:
            handle.write(self.SYSTEMCTL.format(python=sys.executable))
        os.chmod(os.path.join(tools, "systemctl"), 0o755)
        monkeypatch.setenv("PATH", tools + os.pathsep + os.environ.get("PATH", ""))
        self.state_file = self.path("machine-state.json")
        monkeypatch.setenv("FAKE_MACHINE_STATE", self.state_file)
        with open(self.state_file, "w") as handle:
            json.dump({"service": {"active": False, "enabled": False}, "unit_file": paths.UNIT_FILE}, handle)
        self.servers = []

    def path(self, relative):
        return os.path.join(self.root, relative)

    def build_venv(self, python):
        """What the bootstrap leaves after (re)building the venv for a Python."""
        from charms.livepatch import bootstrap

        with open(os.path.join(self.venv, bootstrap.MARKER), "w") as handle:
            json.dump({"python": python, "built": f"{time.time():.6f}"}, handle)

    def set_adopt(self, exit_code=0, **result):
        """What `storage adopt` prints and its exit code."""
        data = {"store": "postgres", "imported": [], "present": [], "moved": [], "failed": []}
        data.update(result)
        with open(self.adopt_file, "w") as handle:
            json.dump(data, handle)
        with open(self.adopt_file + ".rc", "w") as handle:
            handle.write(str(exit_code))

    def adopt_calls(self):
        try:
            with open(self.adopt_file + ".calls") as handle:
                return [line.split() for line in handle]
        except FileNotFoundError:
            return []

    def set_schema(self, current, required):
        with open(self.schema_file, "w") as handle:
            json.dump({"current": current, "required": required}, handle)

    @property
    def service(self):
        with open(self.state_file) as handle:
            return json.load(handle)["service"]

    def systemctl_calls(self):
        try:
            with open(self.state_file + ".calls") as handle:
                return [json.loads(line) for line in handle]
        except FileNotFoundError:
            return []

    def rendered_config(self):
        with open(self.paths.CONFIG_FILE) as handle:
            return yaml.safe_load(handle)

    def serve(self, host):
        """Answer GET /debug/status on host:<free port> (the service stand-in); the port."""
        httpd = ThreadingHTTPServer((host, 0), StatusHandler)
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.servers.append(httpd)
        return httpd.server_address[1]

    def close(self):
        for httpd in self.servers:
            httpd.shutdown()
            httpd.server_close()


class StatusHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        code, body = (200, {"database": "OK"}) if self.path == "/debug/status" else (404, {})
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def flush(endpoint):
    """What charms.reactive does at the end of a hook: publish changed data."""
    for relation in endpoint.relations:
        relation._flush_data()


def defaults():
    with open(os.path.join(ROOT, "config.yaml")) as handle:
        options = yaml.safe_load(handle)["options"]
    return {name: spec["default"] for name, spec in options.items()}


def valid_config(**changes):
    """The defaults of config.yaml plus a url_template, with changes."""
    values = defaults()
    values["url_template"] = "http://lp.example/patches/{filename}"
    values.update(changes)
    return values


RELEASE = {"VERSION": "22.04.4 LTS (Jammy Jellyfish)", "VERSION_ID": "22.04", "VERSION_CODENAME": "jammy"}


def attach(contracts, contract_token, machine_id=None):
    """What `pro attach <contract token>` asks the contracts server: POST
    /v1/context/machines/token with the token as bearer and the machine's description
    (its machine id: /etc/machine-id's 32 hex digits unless given). -> the JSON answer,
    which the Pro client stores as its private machine-token.json."""
    body = {
        "machineId": machine_id or uuid.uuid4().hex,
        "architecture": "amd64",
        "hostType": "container",
        "os": {"type": "Linux", "kernel": "5.15.0-105-generic", "distribution": RELEASE["VERSION"],
               "release": RELEASE["VERSION_ID"], "series": RELEASE["VERSION_CODENAME"]},
    }
    request = urllib.request.Request(
        contracts.url + "/v1/context/machines/token", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {contract_token}", "Content-Type": "application/json",
                 "Accept": "application/json"})
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10) as response:
        return json.load(response)


def pro_attach(folder, contracts, contract_token, contract_url=None, machine_id=None):
    """Attach "the machine" to the fake contracts server `contracts` with `contract_token`
    (attach(): a real request; the machine is then contracts.machines_for(contract_token))
    and leave the files the Pro client leaves after `pro attach` (real-charms-facts §3):
    the private machine-token.json (0600; the attach API's answer, as is) and uaclient.conf
    (YAML; the subordinate writes its contract_url option there, §2, here `contract_url`,
    which need not be the server attached to). -> (token file, conf file)."""
    answer = attach(contracts, contract_token, machine_id)
    private = os.path.join(folder, "var/lib/ubuntu-advantage/private")
    os.makedirs(private, mode=0o700, exist_ok=True)
    token_file = os.path.join(private, "machine-token.json")
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(answer, handle)
    conf_dir = os.path.join(folder, "etc/ubuntu-advantage")
    os.makedirs(conf_dir, exist_ok=True)
    conf_file = os.path.join(conf_dir, "uaclient.conf")
    config = {"data_dir": "/var/lib/ubuntu-advantage", "log_level": "debug", "security_url": "https://ubuntu.com/security"}
    if contract_url:
        config["contract_url"] = contract_url
    with open(conf_file, "w") as handle:
        yaml.safe_dump(config, handle)
    return token_file, conf_file
