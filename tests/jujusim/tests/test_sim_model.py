"""The simulator against the plain-Python `simtest` charm: hook order, environment,
per-unit isolation, config, relations, leadership, actions, errors."""

import json
import os

import pytest
import yaml

from simtesting import TEST_CHARMS

SIMTEST = os.path.join(TEST_CHARMS, "simtest")


@pytest.fixture(scope="module")
def sim(new_model):
    sim = new_model()
    sim.run("deploy", SIMTEST, "app", "-n", "2")
    sim.run("deploy", SIMTEST, "client")
    sim.wait()
    return sim


def test_deploy_hook_order_and_leadership(sim):
    assert sim.hooks_run("app/0")[:7] == [
        "install", "cluster-relation-created", "leader-elected", "config-changed", "start",
        "cluster-relation-joined", "cluster-relation-changed"]
    assert sim.hooks_run("app/1")[:7] == [
        "install", "cluster-relation-created", "leader-settings-changed", "config-changed",
        "start", "cluster-relation-joined", "cluster-relation-changed"]
    status = sim.status()
    units = status["applications"]["app"]["units"]
    assert units["app/0"]["leader"] is True and units["app/1"]["leader"] is False
    for unit in units.values():
        assert unit["workload-status"] == {**unit["workload-status"], "current": "active",
                                           "message": "ready: hello"}
        assert unit["juju-status"]["current"] == "idle"
    assert status["applications"]["app"]["charm"] == "simtest"
    assert status["applications"]["app"]["version"] == "1.2.3"
    # the non-leader saw the leader's data in leader-settings-changed... of a later hook
    last = sim.events("app/1")[-1]
    assert last["leader"] == {"leader": "app/0", "secret": "s3cret"}


def test_hook_environment(sim):
    install = [e for e in sim.events("app/1") if e["what"] == "hooks/install"][0]
    env = install["env"]
    charm_dir = "/var/lib/juju/agents/unit-app-1/charm"
    assert install["cwd"] == charm_dir and install["uid"] == 0
    assert env["CHARM_DIR"] == env["JUJU_CHARM_DIR"] == charm_dir
    assert env["JUJU_UNIT_NAME"] == "app/1"
    assert env["JUJU_HOOK_NAME"] == "install"
    assert env["JUJU_DISPATCH_PATH"] == "hooks/install"
    assert env["JUJU_MACHINE_ID"] == "1"
    assert env["LANG"] == "C.UTF-8"
    assert env["PATH"].startswith("/var/lib/juju/tools/unit-app-1:")
    for key in ("JUJU_MODEL_UUID", "JUJU_MODEL_NAME", "JUJU_CONTEXT_ID", "JUJU_VERSION",
                "JUJU_AVAILABILITY_ZONE", "JUJU_AGENT_SOCKET_ADDRESS"):
        assert env.get(key), key
    assert "JUJU_RELATION" not in env
    assert 'NAME="Ubuntu"' in install["os_release"]
    assert "DISTRIB_CODENAME=jammy" in install["lsb_release"]
    assert install["run_systemd"] is True
    assert install["jujud"].startswith("2.9.")
    joined = [e for e in sim.events("app/1") if e["what"] == "hooks/cluster-relation-joined"][0]
    assert joined["env"]["JUJU_RELATION"] == "cluster"
    assert joined["env"]["JUJU_RELATION_ID"] == "cluster:1"
    assert joined["env"]["JUJU_REMOTE_UNIT"] == "app/0"
    assert joined["env"]["JUJU_REMOTE_APP"] == "app"


def test_each_unit_is_its_own_machine(sim):
    # install wrote /etc/livepatch/marker: each unit has its own, the host has none
    assert open(sim.unit_root("app/0", "/etc/livepatch/marker")).read() == "app/0"
    assert open(sim.unit_root("app/1", "/etc/livepatch/marker")).read() == "app/1"
    assert not os.path.exists("/etc/livepatch/marker")
    out = sim.exec("app/1", "cat /etc/livepatch/marker; echo; unit-get private-address; "
                   "unit-get public-address --format=json; pwd; "
                   "ls /var/lib/juju/agents; grep ^ID= /etc/os-release").stdout.split("\n")
    assert out[:6] == ["app/1", sim.address(2), '"%s"' % sim.address(2),
                       "/var/lib/juju/agents/unit-app-1/charm", "unit-app-1", "ID=ubuntu"]
    net = yaml.safe_load(sim.exec("app/0", "network-get api --format yaml").stdout)
    assert net["ingress-addresses"] == [sim.address(1)]
    assert net["egress-subnets"] == [sim.address(1) + "/32"]
    assert net["bind-addresses"][0]["addresses"][0]["value"] == sim.address(1)
    assert sim.exec("app/0", "network-get api --ingress-address").stdout.strip() == \
        sim.address(1)
    bad = sim.exec("app/0", "network-get nosuch", check=False)
    assert bad.returncode == 1 and 'no network config found for binding "nosuch"' in bad.stderr


def test_config(sim):
    config = sim.json("config", "app")
    assert config["message"] == "hello" and config["count"] == 1 and config["flag"] is False
    assert config["nodefault"] is None
    assert sim.json("config", "app", "count") == 1
    bad = sim.run("config", "app", "count=many", check=False)
    assert bad.returncode == 1 and 'option "count" expected int' in bad.stderr
    bad = sim.run("config", "app", "nosuch=1", check=False)
    assert bad.returncode == 1 and 'unknown option "nosuch"' in bad.stderr
    sim.run("config", "app", "message=hi there", "count=5", "flag=true", "nodefault=x=y")
    sim.wait()
    last = [e for e in sim.events("app/1") if e["what"] == "hooks/config-changed"][-1]
    assert last["config"]["message"] == "hi there" and last["config"]["count"] == 5
    assert last["config"]["flag"] is True and last["config"]["nodefault"] == "x=y"
    assert sim.unit("app/1")["workload-status"]["message"] == "ready: hi there"
    out = sim.exec("app/0", "config-get --all --format=json; config-get count; "
                   "config-get message --format=json").stdout.splitlines()
    assert json.loads(out[0])["nodefault"] == "x=y"
    assert out[1:] == ["5", '"hi there"']
    sim.run("config", "app", "--reset", "message,nodefault")
    sim.wait()
    assert sim.json("config", "app")["nodefault"] is None
    # setting a value to what it already is runs no hook
    before = len(sim.hooks_run("app/0"))
    sim.run("config", "app", "count=5")
    sim.wait()
    assert len(sim.hooks_run("app/0")) == before


def test_config_file_takes_the_app_section_or_juju_config_output(sim, tmp_path):
    """juju config --file: `<app>: {key: value}`, or what `juju config <app>` prints
    (Juju's application facade: charmConfigFromConfigValues reads `settings.<key>.value`)."""
    section = tmp_path / "section.yaml"
    section.write_text("app:\n  message: from a section\n  count: 6\n")
    sim.run("config", "app", "--file", str(section))
    assert sim.json("config", "app", "message") == "from a section"
    dump = {
        "application": "app", "charm": "simtest",
        "application-config": {"trust": {"default": False, "type": "bool", "value": False}},
        "settings": {
            "message": {"default": "hello", "source": "user", "type": "string", "value": "from a dump"},
            "count": {"default": 1, "source": "user", "type": "int", "value": 7},
            "nodefault": {"source": "unset", "type": "string"},  # no value: skipped
        },
    }
    dumped = tmp_path / "dump.yaml"
    dumped.write_text(yaml.safe_dump(dump))
    sim.run("config", "app", "--file", str(dumped))
    sim.wait()
    config = sim.json("config", "app")
    assert (config["message"], config["count"], config["nodefault"]) == ("from a dump", 7, None)
    # an option the charm lacks: refused, and nothing of the file is set
    dump["settings"]["count"]["value"] = 8
    dump["settings"]["legacy_only"] = {"default": "", "source": "default", "type": "string", "value": ""}
    dumped.write_text(yaml.safe_dump(dump))
    bad = sim.run("config", "app", "--file", str(dumped), check=False)
    assert bad.returncode == 1 and 'unknown option "legacy_only"' in bad.stderr
    assert sim.json("config", "app", "count") == 7
    sim.run("config", "app", "--reset", "message,count")
    sim.wait()


def test_relation_data_and_ordering(sim):
    sim.run("relate", "client:backend", "app:api")
    sim.wait()
    hooks = [h for h in sim.hooks_run("client/0") if h.startswith("backend-")]
    assert hooks[0] == "backend-relation-created"
    assert hooks.index("backend-relation-joined") < hooks.index("backend-relation-changed")
    last = [e for e in sim.events("client/0") if e["what"].startswith("hooks/backend-")][-1]
    view = last["relation"]
    assert view["units"] == ["app/0", "app/1"]
    assert view["data"]["app/0"]["who"] == "app/0"
    assert view["data"]["app/1"]["address"] == sim.address(2)
    assert view["data"]["app/1"]["ingress-address"] == sim.address(2)
    assert view["app_data"] == {"app-key": "app"}          # written by the leader only
    writes = [e for e in sim.events("app/1") if e["what"] == "hooks/api-relation-joined"]
    assert writes[0]["app_write_denied"] is True           # the non-leader was refused
    # relation-changed ran on the remote side because the data it sees changed
    changed = [e["env"]["JUJU_REMOTE_UNIT"] for e in sim.events("client/0")
               if e["what"] == "hooks/backend-relation-changed"]
    assert "app/0" in changed and "app/1" in changed and "" in changed  # "" = app data

    # hook tools as charmhelpers calls them
    rids = json.loads(sim.exec("client/0", "relation-ids backend --format=json").stdout)
    assert len(rids) == 1 and rids[0].startswith("backend:")
    rid = rids[0]
    assert "--file" in sim.exec("client/0", "relation-set --help").stdout
    script = """
set -e
relation-get --format=json -r RID - app/1
relation-get --format=json -r RID who app/0
relation-get --format=json --app -r RID - app
relation-get --format=json -r RID missing app/0
relation-list --format=json -r RID
printf 'alpha: one\\nbeta: "2"\\ngone: null\\n' > /tmp/jujusim-test-settings.yaml
relation-set -r RID --file /tmp/jujusim-test-settings.yaml
relation-set -r RID gamma=three alpha=
printf 'delta: four\\n' | relation-set -r RID --file -
relation-get --format=json -r RID - client/0
rm /tmp/jujusim-test-settings.yaml
""".replace("RID", rid)
    out = sim.exec("client/0", script).stdout.splitlines()
    assert json.loads(out[0])["who"] == "app/1"
    assert json.loads(out[1]) == "app/0"
    assert json.loads(out[2]) == {"app-key": "app"}
    assert json.loads(out[3]) is None
    assert json.loads(out[4]) == ["app/0", "app/1"]
    mine = json.loads(out[5])
    assert mine["beta"] == "2" and mine["gamma"] == "three" and "alpha" not in mine
    assert mine["delta"] == "four" and "gone" not in mine
    sim.wait()
    # committed when `exec` ended well: the remote units got relation-changed
    seen = [e for e in sim.events("app/0") if e["what"] == "hooks/api-relation-changed"][-1]
    assert seen["relation"]["data"]["client/0"]["gamma"] == "three"
    bad = sim.exec("client/0", "relation-get -r %s - nosuch/9" % rid, check=False)
    assert bad.returncode == 1 and "settings not found" in bad.stderr
    denied = sim.exec("app/1", "relation-get -r %s --app - app" % rid.replace("backend", "api"),
                      check=False)
    assert denied.returncode == 1 and "permission denied" in denied.stderr


def test_leader_settings(sim):
    sim.exec("app/0", "leader-set colour=blue")
    sim.wait()
    last = [e for e in sim.events("app/1") if e["what"] == "hooks/leader-settings-changed"][-1]
    assert last["leader"]["colour"] == "blue"
    out = sim.exec("app/1", "leader-get --format=json; leader-get colour; is-leader --format=json;"
                   " is-leader").stdout.splitlines()
    assert json.loads(out[0])["colour"] == "blue"
    assert out[1:] == ["blue", "false", "False"]
    bad = sim.exec("app/1", "leader-set colour=red", check=False)
    assert bad.returncode == 1 and "not the leader" in bad.stderr
    sim.exec("app/0", "leader-set colour=")
    assert "colour" not in json.loads(sim.exec("app/1", "leader-get --format=json").stdout)


def test_actions(sim):
    result = sim.json("run-action", "app/leader", "echo", "text=abc", "times=3")
    assert result["unit"] == "app/0" and result["status"] == "completed"
    assert result["results"] == {"text": "abc", "times": "3", "unit": "app/0",
                                 "nested": {"deep": {"key": "value"}}}
    assert result["log"][0]["message"] == "echoing"
    params = [e for e in sim.events("app/0") if e["what"] == "actions/echo"][-1]
    assert params["params"] == {"text": "abc", "times": 3}
    assert params["env"]["JUJU_ACTION_NAME"] == "echo" and params["env"]["JUJU_ACTION_UUID"]
    assert "JUJU_HOOK_NAME" not in params["env"]
    defaults = sim.json("run-action", "app/1", "echo")
    assert defaults["results"]["text"] == "hi" and defaults["results"]["times"] == "1"
    failed = sim.run("run-action", "app/1", "fail", "message=no way", check=False)
    assert failed.returncode == 1
    failed = json.loads(failed.stdout)
    assert failed["status"] == "failed" and failed["message"] == "no way"
    assert failed["results"] == {"partial": "yes"}
    crashed = sim.run("run-action", "app/1", "crash", check=False)
    assert crashed.returncode == 1
    crashed = json.loads(crashed.stdout)
    assert crashed["message"] == "exit status 3" and "crashing on purpose" in crashed["stderr"]
    bad = sim.run("run-action", "app/1", "echo", "bogus=1", check=False)
    assert bad.returncode == 1 and "bogus" in bad.stderr
    bad = sim.run("run-action", "app/1", "nosuch", check=False)
    assert bad.returncode == 1 and 'no action "nosuch"' in bad.stderr
    bad = sim.exec("app/1", "action-get", check=False)
    assert bad.returncode == 1  # not in an action


def test_failing_hook_and_resolved(sim):
    sim.run("config", "client", "fail_hook=config-changed")
    sim.wait(expect_error=True)
    unit = sim.unit("client/0")
    assert unit["workload-status"]["current"] == "error"
    assert unit["workload-status"]["message"] == 'hook failed: "config-changed"'
    assert sim.status()["applications"]["client"]["application-status"]["current"] == "error"
    # the queue is blocked: update-status waits behind the failed hook
    sim.run("update-status", "client")
    sim.wait(expect_error=True)
    assert sim.hooks_run("client/0")[-1] == "config-changed"
    sim.run("config", "client", "fail_hook=")
    sim.run("resolved", "client/0")
    sim.wait()
    assert sim.unit("client/0")["workload-status"]["current"] == "active"
    # the failed hook ran again first, then what had queued up behind it
    assert sim.hooks_run("client/0")[-4:] == ["config-changed", "config-changed",
                                              "update-status", "config-changed"]
    assert "failing config-changed on purpose" in sim.run("debug-log", "--include",
                                                          "client/0").stdout


def test_remove_relation(sim):
    sim.run("remove-relation", "client", "app")
    sim.wait()
    hooks = sim.hooks_run("client/0")
    tail = hooks[hooks.index("backend-relation-departed"):]
    assert tail == ["backend-relation-departed", "backend-relation-departed",
                    "backend-relation-broken"]
    departed = [e for e in sim.events("client/0")
                if e["what"] == "hooks/backend-relation-departed"]
    assert {e["env"]["JUJU_DEPARTING_UNIT"] for e in departed} == {"app/0", "app/1"}
    assert departed[-1]["relation"]["units"] == []
    assert json.loads(sim.exec("client/0", "relation-ids backend --format=json").stdout) == []
    assert sim.status()["applications"]["client"]["relations"].get("backend") is None


def test_remove_leader_elects_another(sim):
    sim.run("add-unit", "app")
    sim.wait()
    assert sorted(sim.status()["applications"]["app"]["units"]) == ["app/0", "app/1", "app/2"]
    sim.run("remove-unit", "app/0")
    sim.wait()
    units = sim.status()["applications"]["app"]["units"]
    assert sorted(units) == ["app/1", "app/2"]
    assert units["app/1"]["leader"] is True and units["app/2"]["leader"] is False
    assert sim.hooks_run("app/1")[-1] == "leader-elected"
    departed = [e for e in sim.events("app/2") if e["what"] == "hooks/cluster-relation-departed"]
    assert departed[-1]["env"]["JUJU_DEPARTING_UNIT"] == "app/0"
    assert sim.hooks_run("app/0")[-3:] == ["cluster-relation-departed", "cluster-relation-broken",
                                           "stop"]
    assert sim.exec("app/1", "is-leader").stdout.strip() == "True"


def test_upgrade_charm(sim, tmp_path):
    new = tmp_path / "simtest-v2"
    import shutil
    shutil.copytree(SIMTEST, new)
    (new / "svc.py").unlink()
    (new / "NEW").write_text("v2\n")
    with open(new / "config.yaml", "a") as f:
        f.write("  extra:\n    type: string\n    default: fresh\n    description: new in v2\n")
    before = len(sim.hooks_run("app/1"))
    sim.run("upgrade-charm", "app", "--path", str(new))
    sim.wait()
    assert sim.hooks_run("app/1")[before:] == ["upgrade-charm", "config-changed"]
    charm = sim.charm_dir("app/1")
    assert os.path.exists(os.path.join(charm, "NEW"))
    assert not os.path.exists(os.path.join(charm, "svc.py"))       # gone with the old charm
    assert os.path.exists(os.path.join(charm, "events.jsonl"))     # made at run time: kept
    assert sim.exec("app/1", "config-get extra").stdout.strip() == "fresh"
    assert sim.status()["applications"]["app"]["charm-rev"] == 1
    bad = sim.run("upgrade-charm", "app", "--path", os.path.join(TEST_CHARMS, "rtest"),
                  check=False)
    assert bad.returncode == 1 and "different charm name" in bad.stderr


def test_bundle_with_charm_override(sim, tmp_path):
    bundle = tmp_path / "bundle.yaml"
    bundle.write_text(yaml.safe_dump({
        "series": "jammy",
        "applications": {
            "front": {"charm": "./not-built-yet", "num_units": 1,
                      "options": {"message": "from the bundle", "count": 7}},
            "back": {"charm": SIMTEST, "num_units": 1, "options": {"message": "behind"}},
        },
        "relations": [["front:backend", "back:api"]],
    }))
    sim.run("deploy", str(bundle), "--charm", "front=%s" % SIMTEST)
    sim.wait()
    status = sim.status()
    assert status["applications"]["front"]["units"]["front/0"]["workload-status"]["message"] \
        == "ready: from the bundle"
    assert status["applications"]["back"]["units"]["back/0"]["workload-status"]["message"] \
        == "ready: behind"
    assert status["applications"]["front"]["relations"] == {"cluster": ["front"],
                                                            "backend": ["back"]}
    last = [e for e in sim.events("front/0") if e["what"] == "hooks/backend-relation-changed"][-1]
    assert last["relation"]["app_data"] == {"app-key": "back"}
    bad = sim.run("deploy", str(bundle), "--charm", "nosuch=/tmp", check=False)
    assert bad.returncode == 1 and 'no application "nosuch"' in bad.stderr
