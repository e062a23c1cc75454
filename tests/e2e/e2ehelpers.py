"""Helpers of the end-to-end tests (kept out of conftest.py: test modules import them)."""

import contextlib
import json
import os
import shutil
import sys
import tempfile
from http.server import BaseHTTPRequestHandler

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "jujusim", "tests"))

from simtesting import SKIP_REASON, Sim, free_subnet, skip_or_fail  # noqa: E402,F401

CHARM = os.path.join(ROOT, "build", "livepatch")
BUNDLE = os.path.join(ROOT, "bundle.yaml")
CONTRACT_TOKEN = "e2e-contract-token"
MACHINE_TOKEN = "e2e-machine-token"
RESOURCE_TOKEN = "e2e-resource-token"


class ContractsHandler(BaseHTTPRequestHandler):
    """The two calls of the contract -> machine -> resource token exchange."""

    def log_message(self, *args):
        pass

    def _answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.calls.append(("POST", self.path))
        if self.path != "/v1/context/machines/token":
            return self._answer(404, {"message": "not found"})
        if self.headers.get("Authorization") != "Bearer " + CONTRACT_TOKEN:
            return self._answer(401, {"message": "invalid token"})
        self._answer(200, {"machineToken": MACHINE_TOKEN})

    def do_GET(self):
        self.server.calls.append(("GET", self.path))
        if self.path != "/v1/resources/livepatch-onprem/context/machines/livepatch-onprem":
            return self._answer(404, {"message": "not found"})
        if self.headers.get("Authorization") != "Bearer " + MACHINE_TOKEN:
            return self._answer(401, {"message": "invalid token"})
        self._answer(200, {"resourceToken": RESOURCE_TOKEN})


@contextlib.contextmanager
def simulated_model(prefix):
    """A fresh jujusim model on a free loopback /24, destroyed (and deleted unless
    JUJUSIM_KEEP is set) afterwards whatever happened; skips or fails (see
    skip_or_fail) when the simulator or the built charm is missing."""
    reason = skip_reason()
    if reason:
        skip_or_fail(reason)
    path = tempfile.mkdtemp(prefix=prefix)
    os.rmdir(path)
    sim = Sim(path, free_subnet())
    try:
        sim.run("init", "--subnet", sim.subnet)
        yield sim
    finally:
        proc = sim.destroy()
        if not os.environ.get("JUJUSIM_KEEP"):
            shutil.rmtree(path, ignore_errors=True)
        assert proc.returncode == 0, "destroy left processes: %s" % proc.stderr


def skip_reason():
    if SKIP_REASON:
        return SKIP_REASON
    if not os.path.exists(os.path.join(CHARM, "metadata.yaml")):
        return "build/livepatch is missing: run `make build` (make test does)"
    if not shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin:/usr/bin"):
        return "haproxy is not installed (scripts/ensure-system-deps.sh)"
    return None


def unit_address(sim, unit):
    return sim.unit(unit)["public-address"]
