"""The upgrade of docs/migration.md, end to end under jujusim with the BUILT charm:
a unit given a legacy deployment's `juju config` dump with `config --file` (all 46
options, tests/legacydump.py; patchstore at the legacy default `file`, filestore_path
/livepatch/) holds patch files in /livepatch/ under their own names, as the legacy
charm's file store left them; then upgrade-charm (to a build with a new schema
migration), the schema-upgrade action, and the switch to patchstore=postgres and
back. Every patch stays downloadable through haproxy, and the unit ends active.

jujusim has no stand-in of the legacy charm itself (it is Go and snap based): the
legacy state is what matters here, its config and its patch folder.
"""

import hashlib
import os
import re
import shutil
import sys

import pytest
import yaml
from e2ehelpers import (ADMIN, BUNDLE, CHARM, PASSWORD, PATCH, admin_users, curl, haproxy, http, simulated_model,
                        statuses)

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from legacydump import dump_yaml  # noqa: E402

pytestmark = pytest.mark.e2e

SCHEMA_BLOCKED = ("blocked", "schema upgrade required: run the schema-upgrade action on the leader")
SERVING = ("active", "serving patches on :90 (leader)")


def the_status(sim):
    return statuses(sim, "livepatch")["livepatch/0"]


def legacy_patches():
    """What a legacy unit's /livepatch/ held: patch files under their own names, one
    with the .sha256 line sha256sum prints beside it."""
    return {"livepatch-5.15.0-107.117-generic-%s-amd64.tar.bz2" % version: os.urandom(size)
            for version, size in (("105.1", 300 * 1024), ("106.1", 64 * 1024), ("106.2", 1500 * 1024))}


def downloadable(front, patches):
    for filename, data in patches.items():
        assert curl("%s/v1/patches/%s" % (front, filename)) == data, filename


def imported_line(sim, store):
    """The counts of the last `patch store <store> (...)` log line."""
    lines = [line for line in sim.debug_log().splitlines() if "patch store %s (" % store in line]
    assert lines, sim.debug_log(60)
    return re.search(r"(\d+) legacy files imported, (\d+) patches copied into it, (\d+) already there, "
                     r"(\d+) failed", lines[-1]).groups()


@pytest.fixture
def legacy_mount_point():
    """/livepatch is a private folder of each unit (init --private-path); jujusim
    needs its mount point on the host for a folder right under /: an empty folder,
    made here when missing and removed again afterwards."""
    made = not os.path.exists("/livepatch")
    if made:
        os.mkdir("/livepatch", 0o755)
    try:
        yield "/livepatch"
    finally:
        if made:
            os.rmdir("/livepatch")  # the units' files were in their private copies


def test_upgrade_from_a_legacy_file_store_keeps_every_patch(upstream, tmp_path, legacy_mount_point):
    with simulated_model("jujusim-e2e-upgrade-", private_paths=[legacy_mount_point]) as sim:
        sim.run("deploy", "postgresql")
        # haproxy as bundle.yaml configures it (its `services`: the livepatch service on :80)
        with open(BUNDLE) as handle:
            services = yaml.safe_load(handle)["applications"]["haproxy"]["options"]["services"]
        haproxy_config = tmp_path / "haproxy.yaml"
        haproxy_config.write_text(yaml.safe_dump({"haproxy": {"services": services}}))
        sim.run("deploy", "haproxy", "--config", str(haproxy_config))
        sim.wait(timeout=600)
        front = haproxy(sim)

        # The legacy deployment's `juju config` dump, patchstore left at its default.
        legacy = tmp_path / "legacy.yaml"
        legacy.write_text(dump_yaml(patchstore="file", url_template=front + "/v1/patches/{filename}",
                                    auth_basic_users=admin_users().split("=", 1)[1], sync_upstream=upstream.url))
        # `juju config --file` reads `juju config` output (the legacy deployment's settings)
        sim.run("deploy", CHARM, "livepatch")
        sim.run("config", "livepatch", "--file", str(legacy))
        sim.run("config", "livepatch", "sync_token=" + upstream.token)
        sim.run("relate", "livepatch:database", "postgresql:database")
        sim.run("relate", "livepatch:website", "haproxy:reverseproxy")
        sim.wait(timeout=600)
        assert the_status(sim) == SERVING, sim.debug_log(80)
        config = sim.json("config", "livepatch")
        assert (config["patchstore"], config["filestore_path"], config["port"]) == ("file", "/livepatch/", 90)
        resp = http("POST", front + "/v1/admin/sync/trigger", json={"wait": True}, auth=(ADMIN, PASSWORD))
        assert resp.status_code == 200 and resp.json()["result"] == "success", resp.text
        patches = dict(legacy_patches(), **{PATCH: upstream.data})

        # The legacy charm's files on the unit's disk.
        drop = tmp_path / "drop"
        drop.mkdir()
        for filename, data in patches.items():
            if filename != PATCH:
                (drop / filename).write_bytes(data)
        first = sorted(f for f in patches if f != PATCH)[0]
        (drop / (first + ".sha256")).write_text("%s  %s\n" % (hashlib.sha256(patches[first]).hexdigest(), first))
        sim.exec("livepatch/0", "cp %s/* /livepatch/ && chown root:root /livepatch/*" % drop)

        # upgrade-charm to a build that brings a schema migration, then schema-upgrade.
        new = tmp_path / "livepatch"
        shutil.copytree(CHARM, new, symlinks=True)
        migrations = new / "livepatch_app" / "migrations"
        last = sorted(p.name for p in migrations.glob("[0-9][0-9][0-9][0-9]_*.sql"))[-1]
        (migrations / ("%04d_e2e_legacy_upgrade.sql" % (int(last[:4]) + 1))).write_text(
            "CREATE TABLE e2e_legacy_upgrade_marker (id integer PRIMARY KEY);\n")
        sim.run("upgrade-charm", "livepatch", "--path", str(new))
        sim.wait(timeout=600)
        assert the_status(sim) == SCHEMA_BLOCKED
        result = sim.json("run-action", "livepatch/leader", "schema-upgrade")
        assert result["status"] == "completed", result
        sim.wait(timeout=600)
        assert the_status(sim) == SERVING
        assert imported_line(sim, "filesystem") == ("3", "0", "0", "0")
        downloadable(front, patches)

        # patchstore file -> postgres: every patch copied into PostgreSQL first.
        sim.run("config", "livepatch", "patchstore=postgres")
        sim.wait(timeout=600)
        assert the_status(sim) == SERVING
        assert imported_line(sim, "postgres") == ("0", "4", "3", "0")
        downloadable(front, patches)

        # and back: postgres -> file, copied onto the unit's disk first.
        sim.run("config", "livepatch", "patchstore=file")
        sim.wait(timeout=600)
        assert the_status(sim) == SERVING
        assert imported_line(sim, "filesystem")[1] == "4"
        downloadable(front, patches)
