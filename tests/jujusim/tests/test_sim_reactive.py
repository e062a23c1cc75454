"""A charms.reactive charm under the simulator: charmhelpers' own hook-tool calls
(config, Endpoint relation data, leadership, status, network_get, ports, services via
systemctl, actions) work inside the unit namespaces, where /etc/os-release says Ubuntu.
"""

import importlib.util
import json
import os
import shutil
import sys
import tempfile

import pytest

from simtesting import TEST_CHARMS, http_get

HOOKS = ["install", "config-changed", "start", "stop", "leader-elected",
         "leader-settings-changed", "update-status", "upgrade-charm"] + [
    "%s-relation-%s" % (ep, ev) for ep in ("api", "backend")
    for ev in ("created", "joined", "changed", "departed", "broken")]

HOOK = """#!{python}
import sys
sys.path.append("lib")
from charms.reactive import main
main()
"""

ACTIONS = {
    "hello": """#!{python}
import sys
sys.path.append("lib")
from charmhelpers.core import hookenv
name = hookenv.action_get("name")
hookenv.action_set({{"greeting": "hello %s" % name, "from": hookenv.local_unit(),
                     "detail.leader": hookenv.is_leader()}})
""",
    "boom": """#!{python}
import sys
sys.path.append("lib")
from charmhelpers.core import hookenv
hookenv.action_set({{"before": "failing"}})
hookenv.action_fail("boom happened")
""",
}


def reactive_python():
    """A python with charms.reactive and charmhelpers (make test installs them in .venv)."""
    for mod in ("charms.reactive", "charmhelpers"):
        try:
            if importlib.util.find_spec(mod) is None:
                return None
        except (ImportError, ValueError):
            return None
    return sys.executable


@pytest.fixture(scope="module")
def rtest_charm():
    python = reactive_python()
    if python is None:
        pytest.skip("charms.reactive/charmhelpers not installed in this python (make test "
                    "installs them from wheelhouse.txt)")
    tmp = tempfile.mkdtemp(prefix="jujusim-rtest-")
    charm = os.path.join(tmp, "rtest")
    shutil.copytree(os.path.join(TEST_CHARMS, "rtest"), charm)
    os.makedirs(os.path.join(charm, "actions"), exist_ok=True)
    for name in HOOKS:
        path = os.path.join(charm, "hooks", name)
        with open(path, "w") as f:
            f.write(HOOK.format(python=python))
        os.chmod(path, 0o755)
    for name, text in ACTIONS.items():
        path = os.path.join(charm, "actions", name)
        with open(path, "w") as f:
            f.write(text.format(python=python))
        os.chmod(path, 0o755)
    yield charm
    shutil.rmtree(tmp, ignore_errors=True)


def records(sim, unit):
    return sim.events(unit, "rtest.jsonl")


@pytest.fixture(scope="module")
def sim(new_model, rtest_charm):
    sim = new_model()
    sim.run("deploy", rtest_charm, "r", "-n", "2")
    sim.run("deploy", rtest_charm, "rc", "--config", "port=18744")
    sim.run("relate", "rc:backend", "r:api")
    sim.wait()
    return sim


def test_charmhelpers_works_in_the_unit(sim):
    installed = [r for r in records(sim, "r/0") if r.get("installed")][0]
    assert installed["codename"] == "jammy" and installed["systemd"] is True
    assert installed["juju_version"].startswith("2.9.")
    units = sim.status()["applications"]["r"]["units"]
    for name, unit in units.items():
        assert unit["workload-status"]["current"] == "active", sim.debug_log(60)
        assert unit["workload-status"]["message"] == "rtest says hi"
        assert unit["open-ports"] == ["18743/tcp"]
    conf = [r for r in records(sim, "r/1") if "config" in r][-1]
    assert conf["config"]["greeting"] == "hi" and conf["running"] is True
    assert conf["address"] == conf["private_ip"] == sim.address(2)
    assert conf["is_leader"] is False
    assert http_get("http://%s:18743/index.html" % sim.address(2)) == "rtest\n"


def test_endpoint_data_flows(sim):
    got = [r for r in records(sim, "rc/0") if "received" in r][-1]
    assert got["received"]["r/0"]["greeting"] == "hi"
    assert json.loads(got["received"]["r/1"]["info"]) == {"unit": "r/1"}
    assert got["received_app"] == [{"app-greeting": "hi"}]
    assert sorted(got["ingress"]) == [sim.address(1), sim.address(2)]
    sim.run("config", "r", "greeting=hola")
    sim.wait()
    got = [r for r in records(sim, "rc/0") if "received" in r][-1]
    assert {u: d["greeting"] for u, d in got["received"].items()} == {"r/0": "hola", "r/1": "hola"}
    assert got["received_app"] == [{"app-greeting": "hola"}]
    conf = [r for r in records(sim, "r/0") if "config" in r][-1]
    assert conf["greeting_changed"] is True
    assert sim.unit("r/0")["workload-status"]["message"] == "rtest says hola"


def test_leadership(sim):
    seen = [r for r in records(sim, "r/1") if "leader" in r and r["hook"] ==
            "leader-settings-changed"]
    assert seen and seen[-1]["leader"] == {"shared": "from-r/0"}


def test_actions(sim):
    result = sim.json("run-action", "r/1", "hello", "name=bob")
    assert result["status"] == "completed"
    assert result["results"] == {"greeting": "hello bob", "from": "r/1",
                                 "detail": {"leader": "False"}}
    failed = sim.run("run-action", "r/leader", "boom", check=False)
    assert failed.returncode == 1
    failed = json.loads(failed.stdout)
    assert failed["status"] == "failed" and failed["message"] == "boom happened"
    assert failed["results"] == {"before": "failing"}
    missing = sim.run("run-action", "r/0", "hello", check=False)
    assert missing.returncode == 1 and 'missing required parameter "name"' in missing.stderr
