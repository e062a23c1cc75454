"""The bundle end to end, as an operator runs it (docs/charm-README.md), under jujusim:
the BUILT livepatch charm, the stand-ins of today's real charms (ubuntu-advantage as a
subordinate, PostgreSQL 14 over `database`, haproxy), real PostgreSQL, real haproxy,
clients through haproxy.

The tests run in order on one deployment (each step builds on the previous one).
"""

import hashlib
import json
import os
import shutil

import pytest

from e2ehelpers import (ADMIN, CHARM, CONTRACT_TOKEN, KERNEL, PASSWORD, PATCH, curl, haproxy, http,
                        leader, seed_flow, statuses, sync_now, unit_address, units_of)

pytestmark = pytest.mark.e2e

LOCAL = "livepatch-5.15.0-107.117-generic-107.2-amd64.tar.bz2"  # uploaded here, newer than PATCH
SCHEMA_BLOCKED = "schema upgrade required: run the schema-upgrade action on the leader"
STATE = {}   # what one step hands to the next


def livepatch_units(sim):
    return units_of(sim, "livepatch")


def messages(sim):
    return statuses(sim, "livepatch")


def admin_session(sim):
    resp = http("POST", haproxy(sim) + "/v1/admin/login", auth=(ADMIN, PASSWORD))
    assert resp.status_code == 200, resp.text
    return {"Authorization": "Bearer " + resp.json()["token"]}


def check_in(sim, machine, token):
    resp = http("POST", "%s/v1/client/%s/updates" % (haproxy(sim), machine),
                headers={"Authorization": "Bearer " + token},
                json={"kernel": KERNEL, "architecture": "amd64",
                      "patch-state": "nothing-to-apply", "client-version": "10.8.3"})
    assert resp.status_code == 200, resp.text
    return resp.json()["patches"]


def service_pid(sim, unit):
    path = os.path.join(sim.path, "units", unit.replace("/", "-"), "systemd", "run",
                        "livepatch.service.json")
    with open(path) as f:
        state = json.load(f)
    return state.get("main") if state.get("state") == "active" else None


def test_1_seed_flow_syncs_from_upstream_and_serves_through_haproxy(bundle_model, contracts, upstream):
    sim = bundle_model
    result = seed_flow(sim, contracts, upstream)
    assert result["results"]["source"] == "pro-attachment", result
    text = json.dumps(result)
    assert upstream.token not in text and CONTRACT_TOKEN not in text
    # The leader's own Pro attachment was used: its machine token and its machine id.
    (asked,) = [r for r in contracts.requests_to("resource") if r.status == 200]
    machine = contracts.machine(asked.headers["authorization"].split()[1])
    assert asked.path == "/v1/resources/livepatch-onprem/context/machines/" + machine.machine_id
    run = sync_now(sim)   # the leader may have synced on its own already: then it adds nothing
    assert run["result"] == "success", run
    runs = http("GET", haproxy(sim) + "/v1/admin/sync/reports", auth=(ADMIN, PASSWORD)).json()["runs"]
    assert sum(r["patches-added"] for r in runs) == 1, runs
    assert curl("%s/v1/patches/%s" % (haproxy(sim), PATCH)) == upstream.data
    assert http("GET", haproxy(sim) + "/debug/status").status_code == 200


def test_2_admin_patch_client_download_through_haproxy(bundle_model):
    sim = bundle_model
    headers = admin_session(sim)
    data = os.urandom(300 * 1024)
    resp = http("PUT", "%s/v1/admin/patches/%s" % (haproxy(sim), LOCAL), data=data,
                headers=headers)
    assert resp.status_code in (200, 201), resp.text
    tier = resp.json()["tiers"][0]
    resp = http("POST", haproxy(sim) + "/v1/admin/auth-token", headers=headers,
                json={"id": "e2e-clients", "tier": tier})
    assert resp.status_code in (200, 201), resp.text
    auth_token = resp.json()["token"]
    resp = http("PUT", haproxy(sim) + "/v1/client/e2e-machine-1",
                headers={"Authorization": "Bearer " + auth_token})
    assert resp.status_code in (200, 201), resp.text
    machine_token = resp.json()["machine-token"]
    patches = check_in(sim, "e2e-machine-1", machine_token)
    assert [p["filename"] for p in patches] == [LOCAL]
    assert patches[0]["url"] == "%s/v1/patches/%s" % (haproxy(sim), LOCAL)
    assert patches[0]["sha256"] == hashlib.sha256(data).hexdigest()
    assert curl(patches[0]["url"]) == data
    STATE.update(data=data, machine_token=machine_token, auth_token=auth_token)


def test_3_add_unit_serves_with_the_resource_token(bundle_model):
    sim = bundle_model
    before = set(livepatch_units(sim))
    sim.run("add-unit", "livepatch")
    sim.wait()
    (new,) = set(livepatch_units(sim)) - before
    current, message = messages(sim)[new]
    assert current == "active", message          # no second get-resource-token needed
    address = unit_address(sim, new)
    status = http("GET", "http://%s:8080/debug/status" % address).json()
    assert status["database"] == "OK"
    assert "not set" not in json.dumps(status["sync"])
    assert curl("http://%s:8080/v1/patches/%s" % (address, LOCAL)) == STATE["data"]
    cfg = open(sim.unit_root(new, "/etc/livepatch/livepatch.yaml")).read()
    assert address in cfg


def test_4_remove_the_leader(bundle_model):
    sim = bundle_model
    old = leader(sim)
    sim.run("remove-unit", old)
    sim.wait()
    units = livepatch_units(sim)
    assert old not in units
    new_leader = leader(sim)
    assert new_leader != old
    assert all(v["workload-status"]["current"] == "active" for v in units.values()), messages(sim)
    assert "(leader)" in units[new_leader]["workload-status"]["message"]
    assert old.replace("/", "-") not in open(
        sim.unit_root("haproxy/0", "/etc/haproxy/haproxy.cfg")).read()
    patches = check_in(sim, "e2e-machine-1", STATE["machine_token"])
    for _ in range(4):   # every remaining unit, through haproxy's round robin
        assert curl(patches[0]["url"]) == STATE["data"]


def test_5_bad_config_blocks_and_fixing_it_returns_active(bundle_model):
    sim = bundle_model
    sim.run("config", "livepatch", "sync_interval=soon")
    sim.wait()
    for current, message in messages(sim).values():
        assert current == "blocked" and message.startswith("invalid config: ")
        assert "sync_interval" in message
    sim.run("config", "livepatch", "--reset", "sync_interval")
    sim.wait()
    assert {c for c, _ in messages(sim).values()} == {"active"}
    assert curl("%s/v1/patches/%s" % (haproxy(sim), LOCAL)) == STATE["data"]


def test_6_database_relation_removed_then_restored(bundle_model):
    sim = bundle_model
    units = list(livepatch_units(sim))
    sim.run("remove-relation", "livepatch:database", "postgresql:database")
    sim.wait()
    assert set(messages(sim).values()) == {("blocked", "missing relation: database")}
    for unit in units:
        assert service_pid(sim, unit) is None      # stopped
        journal = [line for line in sim.run("journal", unit, "livepatch").stdout.splitlines()
                   if "livepatch.service: " in line]
        assert "Stopped" in journal[-1] and "Killing" not in journal[-2], journal[-3:]
    sim.run("relate", "livepatch:database", "postgresql:database")
    sim.wait()
    assert {c for c, _ in messages(sim).values()} == {"active"}
    patches = check_in(sim, "e2e-machine-1", STATE["machine_token"])   # same machine token
    assert curl(patches[0]["url"]) == STATE["data"]
    listed = http("GET", haproxy(sim) + "/v1/admin/auth-tokens", headers=admin_session(sim))
    assert "e2e-clients" in listed.text


def snapshot(sim, unit):
    files = {}
    for top in ("/etc/livepatch", "/etc/systemd/system"):
        root = sim.unit_root(unit, top)
        for dirpath, _, filenames in os.walk(root):
            for name in filenames:
                path = os.path.join(dirpath, name)
                st = os.lstat(path)
                content = os.readlink(path) if os.path.islink(path) else open(path, "rb").read()
                files[os.path.relpath(path, root)] = (st.st_mode, st.st_uid, st.st_gid, content)
    show = sim.json("show-unit", unit)[unit]
    return {
        "files": files,
        "relations": [(r["endpoint"], r["local-unit"]["data"], r["local-application-data"])
                      for r in show["relation-info"]],
        "status": (show["workload-status"]["current"], show["workload-status"]["message"]),
        "ports": show.get("open-ports"),
        "leader-data": show["leader-data"],
        "service": service_pid(sim, unit),
    }


def test_7_every_hook_twice_changes_nothing_the_second_time(bundle_model):
    sim = bundle_model
    units = sorted(livepatch_units(sim))
    lead = leader(sim)
    other = [u for u in units if u != lead][0]
    hooks = ["install", "config-changed", "start", "update-status", "database-relation-changed",
             "website-relation-changed"]
    plan = [(lead, h) for h in hooks + ["leader-elected"]] + \
        [(other, h) for h in hooks + ["leader-settings-changed"]]
    for unit, hook in plan:
        sim.run("run-hook", unit, hook)
        sim.wait()
        first = snapshot(sim, unit)
        sim.run("run-hook", unit, hook)
        sim.wait()
        second = snapshot(sim, unit)
        assert second == first, "%s on %s changed something the second time" % (hook, unit)
        assert first["status"][0] == "active", (unit, hook, first["status"])


def test_8_upgrade_charm_with_a_new_migration(bundle_model, tmp_path):
    sim = bundle_model
    new = tmp_path / "livepatch"
    shutil.copytree(CHARM, new, symlinks=True)
    migrations = new / "livepatch_app" / "migrations"
    last = sorted(p.name for p in migrations.glob("[0-9][0-9][0-9][0-9]_*.sql"))[-1]
    number = int(last[:4]) + 1
    (migrations / ("%04d_e2e_upgrade.sql" % number)).write_text(
        "CREATE TABLE e2e_upgrade_marker (id integer PRIMARY KEY);\n")
    sim.run("upgrade-charm", "livepatch", "--path", str(new))
    sim.wait(timeout=600)
    assert set(messages(sim).values()) == {("blocked", SCHEMA_BLOCKED)}
    version = sim.json("run-action", "livepatch/leader", "schema-version")
    assert str(version["results"]["upgrade-required"]).lower() == "true", version
    result = sim.json("run-action", "livepatch/leader", "schema-upgrade")
    assert result["status"] == "completed", result
    sim.wait()
    assert {c for c, _ in messages(sim).values()} == {"active"}, messages(sim)
    version = sim.json("run-action", "livepatch/leader", "schema-version")
    assert str(version["results"]["current"]) == str(number), version
    patches = check_in(sim, "e2e-machine-1", STATE["machine_token"])   # no data lost
    assert curl(patches[0]["url"]) == STATE["data"]


def test_9_series_upgrade_pauses_the_unit_until_complete(bundle_model):
    """pre-series-upgrade stops the service and nothing in the same hook (converge
    runs in every hook) or after it starts it again, until post-series-upgrade."""
    sim = bundle_model
    unit = sorted(livepatch_units(sim))[0]
    machine = sim.unit(unit)["machine"]
    sim.run("upgrade-series", machine, "prepare", "noble", "-y")
    sim.wait()
    assert messages(sim)[unit] == ("blocked", "series upgrade in progress: run post-series-upgrade when done")
    assert service_pid(sim, unit) is None
    sim.run("upgrade-series", machine, "complete")
    sim.wait()
    assert messages(sim)[unit][0] == "active", messages(sim)[unit]
    assert service_pid(sim, unit) is not None
    patches = check_in(sim, "e2e-machine-1", STATE["machine_token"])
    assert curl(patches[0]["url"]) == STATE["data"]
