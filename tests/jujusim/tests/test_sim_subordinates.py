"""Subordinates under the simulator: deployed without units, one unit per principal
unit on the principal's machine (its /etc, private folders and machine id) once
related over a container-scoped relation, gone with the principal; bundles and the
CLI refuse units for them (real-charms-facts.md section 7). Also: a Juju 2.9 agent
has no secret tools, and a series upgrade (upgrade-series prepare/complete)."""

import json
import os

import pytest
import yaml

from simtesting import TEST_CHARMS

SIMTEST = os.path.join(TEST_CHARMS, "simtest")
SUBTEST = os.path.join(TEST_CHARMS, "subtest")


@pytest.fixture(scope="module")
def sim(new_model):
    sim = new_model()
    sim.run("deploy", SIMTEST, "app", "-n", "2")
    sim.run("deploy", SUBTEST, "sub")
    sim.wait()
    return sim


def test_subordinate_is_deployed_without_units(sim):
    status = sim.status()
    assert "units" not in status["applications"]["sub"]
    assert status["applications"]["sub"]["subordinate-to"] == []
    bad = sim.run("deploy", SUBTEST, "sub2", "-n", "2", check=False)
    assert bad.returncode == 1
    assert "subordinate application must be deployed without units" in bad.stderr
    bad = sim.run("add-unit", "sub", check=False)
    assert bad.returncode == 1 and "is a subordinate" in bad.stderr


def test_relating_creates_one_unit_per_principal_on_its_machine(sim):
    sim.run("relate", "sub", "app")                 # sub:juju-info to app's implicit juju-info
    sim.wait()
    status = sim.status()
    assert status["applications"]["sub"]["subordinate-to"] == ["app"]
    assert status["applications"]["app"]["relations"]["juju-info"] == ["sub"]
    units = status["applications"]["app"]["units"]
    placed = {}
    for principal, entry in units.items():
        (sub, view), = entry["subordinates"].items()
        placed[principal] = sub
        assert view["machine"] == entry["machine"]
        assert view["public-address"] == entry["public-address"]
        assert view["workload-status"]["message"] == "subordinate of %s" % principal
    assert sorted(placed.values()) == ["sub/0", "sub/1"]
    sub0 = placed["app/0"]
    install = sim.hook_events(sub0, "install")[0]
    assert install["env"]["JUJU_PRINCIPAL_UNIT"] == "app/0"
    assert install["env"]["JUJU_MACHINE_ID"] == "0"
    hooks = [e["what"].split("/", 1)[1] for e in sim.events(sub0)]
    assert hooks[:7] == ["install", "juju-info-relation-created", "leader-elected",
                         "config-changed", "start", "juju-info-relation-joined",
                         "juju-info-relation-changed"]
    # only the co-located units are in each other's scope
    joined = sim.hook_events(sub0, "juju-info-relation-joined")
    assert [e["env"]["JUJU_REMOTE_UNIT"] for e in joined] == ["app/0"]
    changed = sim.hook_events(sub0, "juju-info-relation-changed")[-1]
    assert changed["relation"]["units"] == ["app/0"]
    assert changed["relation"]["data"]["app/0"]["private-address"] == sim.address(1)
    assert [e["env"]["JUJU_REMOTE_UNIT"]
            for e in sim.hook_events("app/1", "juju-info-relation-joined")] == [placed["app/1"]]
    rid = changed["env"]["JUJU_RELATION_ID"]
    out = sim.exec(sub0, "relation-list -r %s --format=json" % rid).stdout
    assert json.loads(out) == ["app/0"]
    far = sim.exec(sub0, "relation-get -r %s - app/1" % rid, check=False)
    assert far.returncode == 1 and "settings not found" in far.stderr


def test_subordinate_shares_its_principals_machine(sim):
    sub0, = sim.unit("app/0")["subordinates"]
    # subtest wrote these in install: the principal's hooks and services see them
    out = sim.exec("app/0", "cat /var/lib/ubuntu-advantage/subtest /etc/ubuntu-advantage/subtest;"
                   " cat /etc/machine-id").stdout.splitlines()
    assert out[0] == out[1] == "%s sub" % sub0
    other = sim.exec("app/1", "cat /var/lib/ubuntu-advantage/subtest; cat /etc/machine-id"
                     ).stdout.splitlines()
    assert other[0] == "sub/1 sub"
    install = sim.hook_events(sub0, "install")[0]
    assert install["machine_id"] == out[2] != other[1]      # a machine id per machine
    assert len(out[2]) == 32 and out[2] != open("/etc/machine-id").read().strip()
    assert not os.path.exists("/var/lib/ubuntu-advantage/subtest")   # the host is untouched
    assert not os.path.exists("/etc/ubuntu-advantage/subtest")
    # the subordinate's charm lives in the machine's /var/lib/juju
    assert os.path.exists(sim.unit_root("app/0", "/var/lib/juju/agents/unit-sub-0/charm/dispatch"))
    sim.run("config", "sub", "note=changed")
    sim.wait()
    assert sim.exec("app/1", "cat /var/lib/ubuntu-advantage/subtest").stdout == "sub/1 changed\n"


def test_new_principal_unit_gets_a_subordinate_and_takes_it_along(sim):
    sim.run("add-unit", "app")
    sim.wait()
    app2 = sim.unit("app/2")
    assert list(app2["subordinates"]) == ["sub/2"]
    assert sim.hook_events("sub/2", "install")[0]["env"]["JUJU_MACHINE_ID"] == app2["machine"]
    bad = sim.run("remove-unit", "sub/2", check=False)
    assert bad.returncode == 1 and "is a subordinate" in bad.stderr
    sim.run("remove-unit", "app/2")
    sim.wait()
    status = sim.status()
    assert "app/2" not in status["applications"]["app"]["units"]
    assert "sub/2" not in sim.state()["units"]
    hooks = [e["what"].split("/", 1)[1] for e in sim.events("sub/2")]
    assert hooks[-3:] == ["juju-info-relation-departed", "juju-info-relation-broken", "stop"]


def test_removing_the_relation_removes_the_subordinate_units(sim):
    sim.run("remove-relation", "sub", "app")
    sim.wait()
    status = sim.status()
    assert all("subordinates" not in u for u in status["applications"]["app"]["units"].values())
    assert not [u for u in sim.state()["units"] if u.startswith("sub/")]
    assert [e["what"] for e in sim.events("app/0")][-2:] == [
        "hooks/juju-info-relation-departed", "hooks/juju-info-relation-broken"]


def test_bundle_refuses_units_and_placement_for_a_subordinate(sim, tmp_path):
    def bundle(extra):
        path = tmp_path / "bundle.yaml"
        spec = {"charm": SUBTEST}
        spec.update(extra)
        path.write_text(yaml.safe_dump({"applications": {"sub3": spec},
                                        "relations": [["sub3", "app"]]}))
        return str(path)
    bad = sim.run("deploy", bundle({"num_units": 1}), check=False)
    assert bad.returncode == 1
    assert "subordinate application must be deployed without units" in bad.stderr
    bad = sim.run("deploy", bundle({"to": ["0"]}), check=False)
    assert bad.returncode == 1 and "is a subordinate" in bad.stderr
    sim.run("deploy", bundle({"options": {"note": "bundled"}}))
    sim.wait()
    subs = {p: list(u.get("subordinates", {})) for p, u in
            sim.status()["applications"]["app"]["units"].items()}
    assert sorted(s for v in subs.values() for s in v) == ["sub3/0", "sub3/1"]
    assert sim.exec("app/0", "cat /var/lib/ubuntu-advantage/subtest").stdout.endswith(
        " bundled\n")


def test_a_juju_2_9_agent_has_no_secret_tools(sim):
    out = sim.exec("app/0", "echo $JUJU_VERSION; secret-add a=b", check=False)
    assert out.stdout.startswith("2.9.")
    assert out.returncode == 127 and "secret-add: command not found" in out.stderr
    assert not os.path.lexists(sim.unit_root("app/0",
                                             "/var/lib/juju/tools/unit-app-0/secret-get"))


def test_series_upgrade(sim):
    bad = sim.run("upgrade-series", "0", "complete", check=False)
    assert bad.returncode == 1 and "run prepare first" in bad.stderr
    sim.run("upgrade-series", "0", "prepare", "noble", "-y")
    sim.wait()
    pre = [e["what"] for e in sim.events("sub3/0") + sim.events("app/0")
           if e["what"] == "hooks/pre-series-upgrade"]
    assert len(pre) == 2
    assert "VERSION_CODENAME=jammy" in sim.hook_events("app/0", "pre-series-upgrade")[0][
        "os_release"]
    # prepared: the machine's units run no other hook until complete
    before = len(sim.events("app/0"))
    sim.run("config", "app", "message=during the upgrade")
    sim.wait()
    assert len(sim.events("app/0")) == before
    assert sim.unit("app/1")["workload-status"]["message"] == "ready: during the upgrade"
    assert sim.unit("app/0")["upgrading-from"] == "jammy"
    sim.run("upgrade-machine", "app/0", "complete")
    sim.wait()
    hooks = [e["what"].split("/", 1)[1] for e in sim.events("app/0")][before:]
    assert hooks == ["post-series-upgrade", "config-changed"]
    post = sim.hook_events("app/0", "post-series-upgrade")[0]
    assert "VERSION_CODENAME=noble" in post["os_release"]
    assert "VERSION_CODENAME=noble" in sim.hook_events("sub3/0", "post-series-upgrade")[0][
        "os_release"]
    assert sim.status()["machines"]["0"]["series"] == "noble"
    assert sim.status()["machines"]["1"]["series"] == "jammy"
    assert "DISTRIB_CODENAME=noble" in sim.exec("app/0", "cat /etc/lsb-release").stdout
