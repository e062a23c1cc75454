"""Helpers for the simulator's self-tests (and the end-to-end tests): a model driven
through the jujusim command line."""

import functools
import json
import os
import shutil
import subprocess
import sys

import livetest  # tests/livetest.py, shared by every test folder

HERE = os.path.dirname(os.path.abspath(__file__))
SIM_DIR = os.path.dirname(HERE)
JUJUSIM = os.path.join(SIM_DIR, "jujusim")
TEST_CHARMS = os.path.join(HERE, "charms")
sys.path.insert(0, SIM_DIR)


def _can_simulate():
    if os.geteuid() != 0:
        return "jujusim needs root (mount namespaces, cgroups)"
    if not shutil.which("unshare"):
        return "unshare (util-linux) is not installed"
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "true"],
                           capture_output=True)
    if probe.returncode != 0:
        return "unshare --mount does not work here: %s" % probe.stderr.decode().strip()
    return None


SKIP_REASON = _can_simulate()


def skip_or_fail(reason):
    """A missing prerequisite skips a developer's ad-hoc run, but fails `make test`
    and CI (which set LIVEPATCH_REQUIRE_ALL_TESTS): there, a skip would hide a gap."""
    import pytest

    if os.environ.get("LIVEPATCH_REQUIRE_ALL_TESTS") or os.environ.get("CI"):
        pytest.fail("cannot run: " + reason, pytrace=False)
    pytest.skip(reason)


def _listening_octets():
    """Third octets of 127.0.X.* addresses something listens on (TCP)."""
    used = set()
    for table in ("/proc/net/tcp",):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 3 and parts[3] == "0A":           # LISTEN
                addr = parts[1].split(":")[0]
                octets = [int(addr[i:i + 2], 16) for i in (6, 4, 2, 0)]
                if octets[0] == 127:
                    used.add(octets[2])
    return used


def free_subnet(low=60, high=250):
    """A loopback /24 ("127.0.X") where nothing listens: models of tests that run at the
    same time on this machine (other developers' runs) then do not share addresses.
    Under pytest-xdist each worker draws from its own share of the range (X modulo the
    worker count): two workers' models, started at the same moment, never pick the same
    subnet before either listens on it."""
    import random
    used = _listening_octets()
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:])
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    choices = [x for x in range(low, high) if x % workers == worker and x not in used]
    return "127.0.%d" % random.choice(choices)


def http_get(url, timeout=20):
    """GET url, retrying while the server is not (yet) listening or answers 5xx: a unit's
    service may still be starting right after `wait` (Type=simple starts return at once)."""
    import time
    import urllib.error
    import urllib.request
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.read().decode()
        except (urllib.error.URLError, ConnectionError, OSError) as e:
            code = getattr(e, "code", None)
            if (code is not None and code < 500) or time.time() > deadline:
                raise
            time.sleep(0.2)


class Sim:
    """A model driven through the jujusim command line, like an operator would."""

    def __init__(self, path, subnet=None):
        self.path = path
        self.subnet = subnet

    def address(self, host):
        """The address of machine `host - 1` (units get SUBNET.1, SUBNET.2, ...)."""
        return "%s.%d" % (self.subnet, host)

    def hook_events(self, unit, hook):
        """The recorded runs of one hook on a unit (test charms' events.jsonl)."""
        return [e for e in self.events(unit) if e["what"] == "hooks/" + hook]

    def run(self, *args, check=True, timeout=600, input=None):
        proc = subprocess.run([sys.executable, JUJUSIM, "--model", self.path] + list(args),
                              capture_output=True, text=True, timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise AssertionError("jujusim %s failed (%d):\n%s\n%s\n--- debug-log (tail) ---\n%s" % (
                " ".join(args), proc.returncode, proc.stdout, proc.stderr, self.debug_log(80)))
        return proc

    def json(self, *args, check=True):
        proc = self.run(*args, check=check)
        return json.loads(proc.stdout)

    def status(self):
        return self.json("status", "--format=json")

    def unit(self, unit):
        """A unit's status entry; a subordinate's is found under its principal's."""
        status = self.status()
        app = unit.split("/")[0]
        units = status["applications"][app].get("units")
        if units is not None:
            return units[unit]
        for a in status["applications"].values():
            for u in (a.get("units") or {}).values():
                if unit in u.get("subordinates", {}):
                    return u["subordinates"][unit]
        raise KeyError(unit)

    def wait(self, timeout=300, expect_error=False):
        proc = self.run("wait", "--timeout", str(timeout), check=False, timeout=timeout + 30)
        if expect_error:
            assert proc.returncode == 1, proc.stderr
        elif proc.returncode != 0:
            raise AssertionError("wait failed (%d): %s\n--- debug-log (tail) ---\n%s" % (
                proc.returncode, proc.stderr, self.debug_log(120)))
        return proc

    def exec(self, unit, script, check=True):
        proc = self.run("exec", unit, "--", "/bin/bash", "-c", script, check=False)
        if check and proc.returncode != 0:
            raise AssertionError("exec on %s failed (%d):\n%s\n%s" % (
                unit, proc.returncode, proc.stdout, proc.stderr))
        return proc

    def debug_log(self, lines=0):
        proc = subprocess.run([sys.executable, JUJUSIM, "--model", self.path, "debug-log",
                               "-n", str(lines)], capture_output=True, text=True)
        return proc.stdout + proc.stderr

    def unit_root(self, unit, path="/"):
        return os.path.join(self.path, "units", unit.replace("/", "-"), "root", path.lstrip("/"))

    def charm_dir(self, unit):
        tag = "unit-" + unit.replace("/", "-")
        return self.unit_root(unit, "/var/lib/juju/agents/%s/charm" % tag)

    def events(self, unit, name="events.jsonl"):
        path = os.path.join(self.charm_dir(unit), name)
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def hooks_run(self, unit):
        return [e["what"].split("/", 1)[1] for e in self.events(unit) if e["what"].startswith("hooks/")]

    def state(self):
        with open(os.path.join(self.path, "model.json")) as f:
            return json.load(f)

    def destroy(self):
        return self.run("destroy", check=False)



# The simulator's predicates run jujusim commands: poll them less often.
wait_for = functools.partial(livetest.wait_for, poll=0.1)
