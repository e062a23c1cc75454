"""The nrpe stand-in (canonical/charm-nrpe; see its docstring) as a subordinate of the
haproxy stand-in, whose nrpe-external-master endpoint (container) it relates to: it
installs NRPE on the principal's machine only, publishes the Nagios host name, and its
daemon loads the nrpe.d commands at each restart."""

import json
import os
import pwd

import pytest


@pytest.fixture(scope="module")
def sim(new_model):
    sim = new_model()
    sim.run("deploy", "haproxy")
    sim.run("deploy", "nrpe")
    sim.run("relate", "haproxy:nrpe-external-master", "nrpe:nrpe-external-master")
    sim.wait()
    return sim


def loaded(sim):
    return json.loads(sim.exec("haproxy/0", "cat /run/nagios/nrpe-commands.json").stdout)["commands"]


def test_installs_nrpe_on_the_principals_machine_only(sim):
    assert sim.unit("nrpe/0")["workload-status"]["current"] == "active"
    assert sim.exec("haproxy/0", "id -u nagios && test -d /etc/nagios/nrpe.d "
                    "&& stat -c %U /var/lib/nagios/export").stdout.split()[1] == "nagios"
    with pytest.raises(KeyError):
        pwd.getpwnam("nagios")  # the machine's /etc, not the host's
    for path in ("/var/lib/nagios", "/etc/nagios", "/usr/local/lib/nagios"):
        assert not os.path.exists(path)
    assert sim.exec("haproxy/0", "systemctl is-active nagios-nrpe-server").stdout.strip() == "active"
    assert loaded(sim) == {}


def test_publishes_the_nagios_host_name(sim):
    rel = sim.json("show-unit", "haproxy/0")
    text = json.dumps(rel)
    assert '"nagios_hostname": "juju-haproxy-0"' in text and '"nagios_host_context": "juju"' in text, text
    sim.run("config", "nrpe", "nagios_host_context=site")
    sim.wait()
    assert '"nagios_hostname": "site-haproxy-0"' in json.dumps(sim.json("show-unit", "haproxy/0"))


def test_daemon_loads_nrpe_d_at_restart_and_runs_as_nagios(sim):
    sim.exec("haproxy/0", "echo 'command[check_x]=/bin/true -a' > /etc/nagios/nrpe.d/check_x.cfg")
    assert loaded(sim) == {}
    sim.exec("haproxy/0", "systemctl restart nagios-nrpe-server")
    assert loaded(sim) == {"check_x": "/bin/true -a"}
    out = sim.exec("haproxy/0", "stat -c %U /run/nagios/nrpe-commands.json").stdout.strip()
    assert out == "nagios"


def test_relation_removed_stops_nrpe(sim):
    sim.run("remove-relation", "haproxy:nrpe-external-master", "nrpe:nrpe-external-master")
    sim.wait()
    assert "nrpe/0" not in json.dumps(sim.status()["applications"]["haproxy"])
    proc = sim.exec("haproxy/0", "systemctl is-active nagios-nrpe-server", check=False)
    assert proc.stdout.strip() != "active"
