"""Nagios through the nrpe subordinate, under jujusim with the BUILT charm and the nrpe
stand-in (tests/jujusim/charms/nrpe): relating them writes the four checks into
/etc/nagios/nrpe.d (charmhelpers.contrib.charmsupport.nrpe), the NRPE daemon loads
them on its restart, and each command, run on the unit as the nagios user as NRPE
runs it, answers OK against the running server (sync included, after a real sync);
nagios_context/nagios_servicegroups apply; a stopped service turns the service and
status checks CRITICAL; removing the relation removes the checks.
"""

import json
import shlex

import pytest

from e2ehelpers import ADMIN, CHARM, PASSWORD, admin_users, http, simulated_model, statuses

pytestmark = pytest.mark.e2e

CHECKS = ("livepatch_schema", "livepatch_service", "livepatch_status", "livepatch_sync")
UNIT = "livepatch/0"


def nrpe_commands(sim):
    """{command name: command line} from /etc/nagios/nrpe.d/*.cfg on the unit."""
    out = sim.exec(UNIT, "cat /etc/nagios/nrpe.d/*.cfg 2>/dev/null || true").stdout
    found = {}
    for line in out.splitlines():
        if line.startswith("command[") and "]=" in line:
            name, command = line[len("command["):].split("]=", 1)
            found[name] = command
    return found


def run_as_nagios(sim, command):
    """One check as NRPE runs it: as nrpe_user (nagios), on the unit -> (exit code, output)."""
    proc = sim.exec(UNIT, "setpriv --reuid nagios --regid nagios --init-groups -- /bin/sh -c %s"
                    % shlex.quote(command), check=False)
    return proc.returncode, proc.stdout.strip()


def test_nrpe_checks_written_loaded_and_run_on_the_unit(upstream):
    with simulated_model("jujusim-e2e-nrpe-") as sim:
        sim.run("deploy", "postgresql")
        sim.run("deploy", CHARM, "livepatch", "--config", "sync_token=" + upstream.token,
                "--config", "url_template=http://lp.example/v1/patches/{filename}")
        sim.run("config", "livepatch", admin_users(), "sync_upstream=" + upstream.url)
        sim.run("relate", "livepatch:database", "postgresql:database")
        sim.wait(timeout=600)
        assert statuses(sim, "livepatch")[UNIT][0] == "active", statuses(sim, "livepatch")
        base = "http://%s:8080" % sim.unit(UNIT)["private-address"]
        resp = http("POST", base + "/v1/admin/sync/trigger", json={"wait": True}, auth=(ADMIN, PASSWORD))
        assert resp.status_code == 200 and resp.json()["result"] == "success", resp.text

        sim.run("deploy", "nrpe")
        sim.run("relate", "livepatch:nrpe-external-master", "nrpe:nrpe-external-master")
        sim.wait(timeout=600)
        assert sim.unit("nrpe/0")["workload-status"]["current"] == "active"

        commands = nrpe_commands(sim)
        assert sorted(commands) == ["check_" + c for c in CHECKS], commands
        plugin = "/usr/local/lib/nagios/plugins/check_livepatch.py"
        assert commands["check_livepatch_status"] == "%s status --url %s" % (plugin, base)
        # the daemon loaded them: charmhelpers restarted nagios-nrpe-server after writing
        loaded = json.loads(sim.exec(UNIT, "cat /run/nagios/nrpe-commands.json").stdout)["commands"]
        assert loaded == commands
        # the nrpe charm's host name (nagios_host_context "juju" + principal unit) names the exports
        exported = sim.exec(UNIT, "ls /var/lib/nagios/export").stdout.split()
        assert sorted(exported) == ["service__juju-livepatch-0_check_%s.cfg" % c for c in CHECKS]
        # our monitors reached the nrpe charm
        nrpe_state = json.loads(sim.exec("nrpe/0", "cat $JUJU_CHARM_DIR/.nrpe-state.json").stdout)
        assert nrpe_state["monitors"][UNIT]["monitors"]["remote"]["nrpe"] == {
            c: {"command": "check_" + c} for c in CHECKS}

        for name, command in sorted(commands.items()):
            code, output = run_as_nagios(sim, command)
            assert code == 0 and output.startswith("OK: "), (name, code, output)
        assert run_as_nagios(sim, commands["check_livepatch_sync"])[1].startswith("OK: last successful sync ")

        sim.run("config", "livepatch", "nagios_context=lab", "nagios_servicegroups=livepatch,kernel")
        sim.wait()
        cfg = sim.exec(UNIT, "cat /etc/nagios/nrpe.d/check_livepatch_status.cfg").stdout
        assert "# servicegroups: livepatch,kernel\n" in cfg

        # the service stopped: CRITICAL, not a crash or UNKNOWN
        sim.exec(UNIT, "systemctl stop livepatch")
        assert run_as_nagios(sim, commands["check_livepatch_service"]) == (2, "CRITICAL: livepatch is inactive")
        code, output = run_as_nagios(sim, commands["check_livepatch_status"])
        assert code == 2 and output.startswith("CRITICAL: livepatch server at %s does not answer" % base), output
        sim.exec(UNIT, "systemctl start livepatch")

        sim.run("remove-relation", "livepatch:nrpe-external-master", "nrpe:nrpe-external-master")
        sim.wait()
        assert nrpe_commands(sim) == {}
        assert sim.exec(UNIT, "ls /var/lib/nagios/export").stdout.split() == []
        assert sim.exec(UNIT, "test -e %s" % plugin, check=False).returncode == 1
