"""A legacy charm's config applied as it is, under jujusim with the BUILT charm:
`juju config livepatch --file <dump>` with what `juju config` printed on a legacy
deployment (all 46 options of real-charms-facts section 1, tests/legacydump.py) is
accepted, and the unit serves with it (port 90 as in the dump, below 1024); a legacy
option set to no effect is logged and noted in the status; patchstore=s3 blocks and
the service keeps serving with its last good config.
"""

import os
import sys

import pytest

from e2ehelpers import ADMIN, CHARM, PASSWORD, PATCH, admin_users, curl, http, simulated_model, statuses

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from legacydump import LEGACY_OPTIONS, dump_yaml  # noqa: E402

pytestmark = pytest.mark.e2e


def the_status(sim):
    return statuses(sim, "livepatch")["livepatch/0"]


def test_legacy_config_dump_applies_and_serves(upstream, tmp_path):
    with simulated_model("jujusim-e2e-legacy-") as sim:
        sim.run("deploy", "postgresql")
        sim.run("deploy", CHARM, "livepatch", "--config", "sync_token=" + upstream.token)
        sim.run("relate", "livepatch:database", "postgresql:database")
        sim.wait(timeout=600)
        address = sim.unit("livepatch/0")["public-address"]

        # What `juju config` printed on the legacy deployment. Three values are the site's
        # own in any real dump: the dump of the facts comes from a unit test whose
        # url_template is the placeholder "template", whose admins and upstream are none.
        url = "http://%s:90/v1/patches/{filename}" % address
        legacy = tmp_path / "legacy.yaml"
        legacy.write_text(dump_yaml(url_template=url, auth_basic_users=admin_users().split("=", 1)[1],
                                    sync_upstream=upstream.url))
        applied = sim.run("config", "livepatch", "--file", str(legacy), check=False)
        assert applied.returncode == 0, applied.stderr
        sim.wait(timeout=600)
        config = sim.json("config", "livepatch")
        assert set(LEGACY_OPTIONS) <= set(config)
        assert (config["port"], config["log_level"], config["patchstore"], config["filestore_path"]) == (
            90, "warn", "postgres", "/livepatch/")
        assert the_status(sim) == ("active", "serving patches on :90 (leader)")

        base = "http://%s:90" % address
        resp = http("POST", base + "/v1/admin/sync/trigger", json={"wait": True}, auth=(ADMIN, PASSWORD))
        assert resp.status_code == 200 and resp.json()["result"] == "success", resp.text
        assert curl("%s/v1/patches/%s" % (base, PATCH)) == upstream.data

        # a legacy option that does nothing here: said, not blocking
        sim.run("config", "livepatch", "auth_lp_teams=~livepatch-admins")
        sim.wait()
        assert the_status(sim) == (
            "active", "serving patches on :90 (leader), 1 legacy option ignored: see juju debug-log")
        assert "legacy option auth_lp_teams is set but has no effect here" in sim.debug_log()

        # an object store: blocked, and the service keeps serving with its last good config
        sim.run("config", "livepatch", "patchstore=s3", "s3_bucket=livepatch")
        sim.wait()
        state, message = the_status(sim)
        assert state == "blocked" and message.startswith("patchstore s3 is not supported: set patchstore=postgres")
        assert curl("%s/v1/patches/%s" % (base, PATCH)) == upstream.data
        sim.run("config", "livepatch", "patchstore=postgres", "--reset", "s3_bucket,auth_lp_teams")
        sim.wait()
        assert the_status(sim) == ("active", "serving patches on :90 (leader)")
