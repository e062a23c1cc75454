"""Helpers shared by the charm's tests (a module name no other test folder uses).

FakeJuju stands in for the hook tools behind charmhelpers.core.hookenv (the
environment, not the code under test): the Endpoint classes and actions run
unchanged on top of it. Contracts is a local Ubuntu Pro contracts server that
speaks the two endpoints of the resource token exchange.
"""

import importlib.util
import json
import os
import sys
import time
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


class FakeJuju:
    """Relation data as Juju's hook tools would return it, for one local unit."""

    def __init__(self, unit="livepatch/0", leader=True):
        self.unit = unit
        self.leader = leader
        self.relations = {}

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


CONTRACT = "contract-token-SECRET"
MACHINE = "machine-token-SECRET"
RESOURCE = "resource-token-SECRET"
RELEASE = {"VERSION": "22.04.4 LTS (Jammy Jellyfish)", "VERSION_ID": "22.04", "VERSION_CODENAME": "jammy"}


class Contracts(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests = []
        self.fail = {}  # path -> (status, body) or "hang"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append((method, self.path, dict(self.headers), body))
        failure = self.server.fail.get(self.path)
        if failure == "hang":
            time.sleep(1.5)
            return self._answer(200, {})
        if failure:
            return self._answer(*failure)
        auth = self.headers.get("Authorization")
        if method == "POST" and self.path == "/v1/context/machines/token":
            if auth != f"Bearer {CONTRACT}":
                return self._answer(401, {"code": "unauthorized", "message": "invalid token"})
            return self._answer(200, {"machineToken": MACHINE, "machineTokenInfo": {"contractInfo": {"id": "c1"}}})
        if method == "GET" and self.path == "/v1/resources/livepatch-onprem/context/machines/livepatch-onprem":
            if auth != f"Bearer {MACHINE}":
                return self._answer(401, {"message": "bad machine token"})
            return self._answer(200, {"resourceToken": RESOURCE})
        return self._answer(404, {"message": "no such endpoint"})

    def do_POST(self):
        self._handle("POST")

    def do_GET(self):
        self._handle("GET")
