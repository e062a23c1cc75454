"""The haproxy stand-in (classic charm, facts section 6) with a real haproxy in front
of `simtest` units, one of them behind an ingress address that is not its own; the
ubuntu-advantage stand-in (facts sections 2-4) as a subordinate attaching the
principals' machines to the fake contracts server (tests/fakecontracts.py)."""

import json
import os
import stat

import pytest
import yaml

from fakecontracts import FakeContracts
from simtesting import TEST_CHARMS, http_get

SIMTEST = os.path.join(TEST_CHARMS, "simtest")
PORT = 18771
ATTACHED = "Attached (esm-apps,esm-infra,livepatch)"


@pytest.fixture(scope="module")
def contracts():
    with FakeContracts() as server:
        server.add_contract_token("G00d-t0ken")
        server.forbid("f0rbidden")
        yield server


@pytest.fixture(scope="module")
def sim(new_model):
    sim = new_model()
    sim.run("deploy", SIMTEST, "web", "-n", "2", "--config", "service_port=%d" % PORT)
    sim.run("deploy", "haproxy")
    sim.run("deploy", "ubuntu-advantage")
    sim.run("relate", "web", "haproxy")
    sim.run("relate", "ubuntu-advantage", "web")
    sim.wait()
    return sim


def cfg(sim):
    return open(sim.unit_root("haproxy/0", "/etc/haproxy/haproxy.cfg")).read()


def backend(text, name):
    lines = text.split("\nbackend %s\n" % name, 1)[1].split("\n\n")[0]
    return [line.strip() for line in lines.splitlines()]


def haproxy_address(sim):
    return sim.unit("haproxy/0")["private-address"]


def seen_through(sim, port, times=6):
    return {http_get("http://%s:%d/" % (haproxy_address(sim), port)).split()[1]
            for _ in range(times)}


def test_default_service_with_tcp_checks(sim):
    text = cfg(sim)
    web0, web1 = sim.unit("web/0")["private-address"], sim.unit("web/1")["private-address"]
    assert "frontend haproxy-80\n    bind %s:80\n" % haproxy_address(sim) in text
    assert backend(text, "haproxy_service") == [
        "balance leastconn", "cookie SRVNAME insert",
        "server web-0-%d %s:%d maxconn 100 cookie S0 check" % (PORT, web0, PORT),
        "server web-1-%d %s:%d maxconn 100 cookie S1 check" % (PORT, web1, PORT)]
    assert "httpchk" not in text                      # bare `check`: a TCP connect check
    assert "option httplog" in text and "timeout queue 20000" in text
    assert seen_through(sim, 80) == {"web/0", "web/1"}
    # haproxy's answer on reverseproxy: public-address (ssl_cert empty, so absent)
    info = [r for r in sim.json("show-unit", "web/0")["web/0"]["relation-info"]
            if r["endpoint"] == "website"][0]
    assert info["related-units"]["haproxy/0"]["data"]["public-address"] == haproxy_address(sim)
    assert "ssl_cert" not in info["related-units"]["haproxy/0"]["data"]


def test_hostname_is_not_read(sim):
    rid = json.loads(sim.exec("web/0", "relation-ids website --format=json").stdout)[0]
    sim.exec("web/0", "relation-set -r %s hostname=nowhere.invalid" % rid)
    sim.wait()
    assert "nowhere" not in cfg(sim) and seen_through(sim, 80) == {"web/0", "web/1"}


def test_units_services_yaml_replaces_auto_generation(sim):
    services = yaml.safe_dump([{
        "service_name": "livepatch", "service_host": "0.0.0.0", "service_port": 8081,
        "service_options": ["mode http", "balance leastconn",
                            "option httpchk GET /debug/status"],
        "servers": [["{unit}", "{address}", "{port}", "check inter 2000 rise 2 fall 5"]]}])
    sim.run("config", "web", "website_services=%s" % services)
    sim.wait()
    text = cfg(sim)
    web0, web1 = sim.unit("web/0")["private-address"], sim.unit("web/1")["private-address"]
    assert "frontend haproxy-8081\n    bind %s:8081\n    mode http\n" % haproxy_address(sim) \
        in text
    assert backend(text, "livepatch") == [
        "mode http", "balance leastconn", "option httpchk GET /debug/status",
        "server web-0 %s:%d check inter 2000 rise 2 fall 5" % (web0, PORT),
        "server web-1 %s:%d check inter 2000 rise 2 fall 5" % (web1, PORT)]
    assert backend(text, "haproxy_service") == ["balance leastconn", "cookie SRVNAME insert"]
    assert seen_through(sim, 8081) == {"web/0", "web/1"}


def test_operator_config_wins_over_the_units(sim):
    sim.run("config", "haproxy", "services=%s" % yaml.safe_dump([{
        "service_name": "livepatch", "service_host": "0.0.0.0", "service_port": 8082,
        "service_options": ["balance roundrobin"], "server_options": "check"}]))
    sim.wait()
    text = cfg(sim)
    assert "frontend haproxy-8082" in text and "haproxy-8081" not in text
    lines = backend(text, "livepatch")
    assert lines[0] == "balance roundrobin" and "httpchk" not in text
    assert [l.split()[1] for l in lines[1:]] == ["web-0", "web-1"]     # servers: unioned
    assert seen_through(sim, 8082) == {"web/0", "web/1"}


def test_invalid_configuration_is_not_loaded(sim):
    before = cfg(sim)
    sim.run("config", "haproxy", "services=%s" % yaml.safe_dump([{
        "service_name": "livepatch", "service_host": "0.0.0.0", "service_port": 8082,
        "service_options": ["no-such-keyword 1"]}]))
    sim.wait()
    status = sim.unit("haproxy/0")["workload-status"]
    assert status["current"] == "blocked"
    assert status["message"].startswith("invalid haproxy configuration")
    assert cfg(sim) == before and seen_through(sim, 8082) == {"web/0", "web/1"}
    sim.run("config", "haproxy", "services=%s" % yaml.safe_dump([{
        "service_name": "livepatch", "service_host": "0.0.0.0", "service_port": 8082,
        "service_options": ["balance roundrobin"], "server_options": "check"}]))
    sim.wait()
    assert sim.unit("haproxy/0")["workload-status"]["current"] == "active"


def test_unknown_service_name_skips_the_unit(sim):
    sim.run("config", "web", "website_services=", "website_service_name=nosuch")
    sim.wait()
    assert backend(cfg(sim), "livepatch") == ["balance roundrobin"]
    assert sim.unit("haproxy/0")["workload-status"]["message"].endswith(
        "skipped web/0, web/1")
    sim.run("config", "web", "website_service_name=livepatch")
    sim.wait()
    assert [l.split()[1] for l in backend(cfg(sim), "livepatch")[1:]] == [
        "web-0-%d" % PORT, "web-1-%d" % PORT]
    sim.run("config", "haproxy", "--reset", "services")
    sim.run("config", "web", "website_service_name=")
    sim.wait()


def test_backend_behind_an_ingress_address(sim):
    """A unit whose ingress address is not its own: haproxy uses the private-address
    Juju put in its relation settings (the ingress one) and gets through."""
    sim.run("deploy", SIMTEST, "far", "--ingress-offset", "100",
            "--config", "service_port=%d" % PORT)
    sim.run("relate", "far", "haproxy")
    sim.wait()
    far = sim.unit("far/0")
    assert far["public-address"] != far["private-address"]
    assert "server far-0-%d %s:%d" % (PORT, far["public-address"], PORT) in cfg(sim)
    assert "far/0" in seen_through(sim, 80, times=9)
    sim.run("remove-relation", "far", "haproxy")
    sim.wait()
    assert "far-0" not in cfg(sim)


# --------------------------------------------------------------------------
# ubuntu-advantage

def machine_file(sim, unit, path):
    return sim.unit_root(unit, path)


def test_ubuntu_advantage_is_a_subordinate_without_a_token(sim):
    subs = {p: list(u["subordinates"]) for p, u in
            sim.status()["applications"]["web"]["units"].items()}
    assert sorted(s for v in subs.values() for s in v) == ["ubuntu-advantage/0",
                                                          "ubuntu-advantage/1"]
    for unit in ("ubuntu-advantage/0", "ubuntu-advantage/1"):
        assert sim.unit(unit)["workload-status"]["current"] == "blocked"
        assert sim.unit(unit)["workload-status"]["message"] == "No token configured"
    conf = yaml.safe_load(open(machine_file(sim, "web/0", "/etc/ubuntu-advantage/uaclient.conf")))
    assert conf["contract_url"] == "https://contracts.canonical.com"
    # it publishes nothing on juju-info
    info = [r for r in sim.json("show-unit", "web/0")["web/0"]["relation-info"]
            if r["endpoint"] == "juju-info"][0]
    (sub, view), = info["related-units"].items()
    assert sorted(view["data"]) == ["egress-subnets", "ingress-address", "private-address"]
    assert info["application-data"] == {}


def test_attach_writes_the_pro_clients_state(sim, contracts):
    sim.run("config", "ubuntu-advantage", "contract_url=%s" % contracts.url,
            "token=G00d-t0ken")
    sim.wait()
    attaches = contracts.requests_to("attach")
    assert len(attaches) == 2
    assert {r.headers["authorization"] for r in attaches} == {"Bearer G00d-t0ken"}
    ids = {r.json["machineId"] for r in attaches}
    for principal in ("web/0", "web/1"):
        sub, = sim.unit(principal)["subordinates"]
        assert sim.unit(sub)["workload-status"] == {**sim.unit(sub)["workload-status"],
                                                    "current": "active", "message": ATTACHED}
        machine_id = sim.exec(principal, "cat /etc/machine-id").stdout.strip()
        assert machine_id in ids
        private_dir = machine_file(sim, principal, "/var/lib/ubuntu-advantage/private")
        private = os.path.join(private_dir, "machine-token.json")
        public = machine_file(sim, principal, "/var/lib/ubuntu-advantage/machine-token.json")
        assert stat.S_IMODE(os.stat(private_dir).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(public).st_mode) == 0o644
        assert os.stat(private).st_uid == 0
        token = json.load(open(private))
        assert sorted(token) == ["activityInfo", "availableResources", "machineToken",
                                 "machineTokenInfo", "resourceTokens"]
        assert token["machineTokenInfo"]["machineId"] == machine_id
        machine = contracts.machine(token["machineToken"])
        assert machine.machine_id == machine_id and machine.contract_token == "G00d-t0ken"
        assert sorted(json.load(open(public))) == ["activityInfo", "availableResources",
                                                   "machineTokenInfo"]
        conf = yaml.safe_load(open(machine_file(sim, principal,
                                                "/etc/ubuntu-advantage/uaclient.conf")))
        assert conf["contract_url"] == contracts.url
    # what a co-located charm can do with it: the machine token buys a resource token
    script = r"""python3 - <<'EOF'
import json, urllib.request
t = json.load(open("/var/lib/ubuntu-advantage/private/machine-token.json"))
req = urllib.request.Request("%s/v1/resources/livepatch-onprem/context/machines/"
                             + t["machineTokenInfo"]["machineId"],
                             headers={"Authorization": "Bearer " + t["machineToken"]})
print(json.load(urllib.request.urlopen(req, timeout=5))["resourceToken"])
EOF""" % contracts.url
    got = sim.exec("web/1", script).stdout.strip()
    token = json.load(open(machine_file(sim, "web/1",
                                        "/var/lib/ubuntu-advantage/private/machine-token.json")))
    assert got == contracts.resource_token_for(token["machineToken"])
    # the same token and url: no new attach (the trigger is a new token or contract_url)
    sim.run("config", "ubuntu-advantage", "services=esm-infra")
    sim.wait()
    assert len(contracts.requests_to("attach")) == 2
    assert sim.unit("ubuntu-advantage/0")["workload-status"]["message"] == ATTACHED
    sim.run("config", "ubuntu-advantage", "--reset", "services")
    sim.wait()


@pytest.mark.parametrize("token, expect", [
    ("Unkn0wn", "HTTP 401"), ("f0rbidden", "HTTP 403"), ("", "No token configured")])
def test_failed_attach_or_no_token_leaves_the_machine_detached(sim, contracts, token, expect):
    sim.run("config", "ubuntu-advantage", "token=%s" % token)
    sim.wait()
    for principal in ("web/0", "web/1"):
        sub, = sim.unit(principal)["subordinates"]
        status = sim.unit(sub)["workload-status"]
        assert status["current"] == "blocked" and expect in status["message"]
        assert not os.path.exists(machine_file(
            sim, principal, "/var/lib/ubuntu-advantage/private/machine-token.json"))
        assert not os.path.exists(machine_file(
            sim, principal, "/var/lib/ubuntu-advantage/machine-token.json"))
    if token:   # back to a working token: attached again (needed by the next case)
        sim.run("config", "ubuntu-advantage", "token=G00d-t0ken")
        sim.wait()
        assert sim.unit("ubuntu-advantage/0")["workload-status"]["message"] == ATTACHED


def test_unreachable_contracts_server(sim):
    import socket
    with socket.socket() as s:            # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = "http://127.0.0.1:%d" % s.getsockname()[1]
    sim.run("config", "ubuntu-advantage", "token=G00d-t0ken", "contract_url=%s" % closed)
    sim.wait()
    status = sim.unit("ubuntu-advantage/1")["workload-status"]
    assert status["current"] == "blocked" and "cannot reach %s" % closed in status["message"]
