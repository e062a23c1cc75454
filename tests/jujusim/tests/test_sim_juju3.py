"""A Juju 3 model under the simulator: JUJU_VERSION, the secret hook tools between
an owner and a consumer (grants over a relation, revisions, secret-changed), and
units whose ingress address is not their own (floating IPs, cross-model)."""

import json
import os

import pytest
import yaml

from simtesting import TEST_CHARMS, http_get

SIMTEST = os.path.join(TEST_CHARMS, "simtest")
OFFSET = 100
PORT = 18752


@pytest.fixture(scope="module")
def sim(new_model):
    sim = new_model(juju_version="3.4.5")
    sim.run("deploy", SIMTEST, "owner", "-n", "2")
    sim.run("deploy", SIMTEST, "consumer")
    sim.run("deploy", SIMTEST, "stranger")
    sim.run("relate", "consumer:backend", "owner:api")
    sim.run("relate", "stranger:backend", "owner:api")
    sim.wait()
    return sim


def sh(sim, unit, script, check=True):
    return sim.exec(unit, script, check=check)


def test_juju_3_environment(sim):
    install = sim.hook_events("owner/0", "install")[0]
    assert install["env"]["JUJU_VERSION"] == "3.4.5"
    assert install["jujud"] == "3.4.5-ubuntu-amd64"
    assert sim.status()["model"]["version"] == "3.4.5"


def test_secret_owner_and_consumer(sim):
    uri = sh(sim, "owner/0", "secret-add --label db-pass --description 'the password' "
             "password=s3cret username=bob").stdout.strip()
    assert uri.startswith("secret:") and len(uri) == len("secret:") + 20
    sid = uri.split(":", 1)[1]
    # the owner's units read it (any unit of an application-owned secret)
    assert json.loads(sh(sim, "owner/1", "secret-get %s --format=json" % uri).stdout) == {
        "password": "s3cret", "username": "bob"}
    assert yaml.safe_load(sh(sim, "owner/0", "secret-get --label db-pass").stdout)[
        "password"] == "s3cret"
    # as in Juju, a key comes after a URI: with --label alone it is taken for one
    bad = sh(sim, "owner/0", "secret-get --label db-pass password", check=False)
    assert bad.returncode == 2 and 'secret URI "password" not valid' in bad.stderr
    assert sh(sim, "owner/0", "secret-get %s password#base64" % uri).stdout == "czNjcmV0\n"
    assert json.loads(sh(sim, "owner/0", "secret-ids --format=json").stdout) == [uri]
    info = yaml.safe_load(sh(sim, "owner/0", "secret-info-get --label db-pass").stdout)
    assert info == {sid: {"revision": 1, "label": "db-pass", "owner": "application",
                          "description": "the password"}}
    # only the leader manages an application's secrets
    denied = sh(sim, "owner/1", "secret-add xkey=yyy", check=False)
    assert denied.returncode == 1 and "permission denied" in denied.stderr
    mine = sh(sim, "owner/1", "secret-add --owner unit token=abc").stdout.strip()
    assert sh(sim, "owner/1", "secret-get %s token" % mine).stdout == "abc\n"
    assert sh(sim, "owner/0", "secret-get %s" % mine, check=False).returncode == 1
    # a consumer that was not granted access cannot read it
    denied = sh(sim, "consumer/0", "secret-get %s" % uri, check=False)
    assert denied.returncode == 1 and denied.stderr == "ERROR permission denied\n"
    missing = sh(sim, "consumer/0", "secret-get secret:%s" % ("a" * 20), check=False)
    assert missing.returncode == 1 and "not found" in missing.stderr
    # granted over the consumer's relation: that application's units read it
    granted = [r for r in json.loads(sh(sim, "owner/0", "relation-ids api --format=json").stdout)
               if json.loads(sh(sim, "owner/0", "relation-list --app -r %s --format=json"
                                % r).stdout) == "consumer"][0]
    sh(sim, "owner/0", "secret-grant %s --relation %s" % (uri, granted))
    got = json.loads(sh(sim, "consumer/0", "secret-get %s --label theirs --format=json"
                        % uri).stdout)
    assert got == {"password": "s3cret", "username": "bob"}
    assert yaml.safe_load(sh(sim, "consumer/0", "secret-get --label theirs").stdout)[
        "username"] == "bob"
    denied = sh(sim, "stranger/0", "secret-get %s" % uri, check=False)
    assert denied.returncode == 1 and "permission denied" in denied.stderr
    info = yaml.safe_load(sh(sim, "owner/0", "secret-info-get %s" % uri).stdout)[sid]
    assert info["access"] == [{"target": "application-consumer",
                               "scope": "relation-%s" % granted.split(":")[1], "role": "view"}]
    # a new revision: the consumer gets secret-changed, keeps its revision until refresh
    sh(sim, "owner/0", "secret-set %s password=n3w username=bob" % uri)
    sim.wait()
    changed = sim.hook_events("consumer/0", "secret-changed")
    assert changed and changed[-1]["env"]["JUJU_SECRET_ID"] == uri
    assert changed[-1]["env"]["JUJU_SECRET_LABEL"] == "theirs"
    assert sh(sim, "consumer/0", "secret-get %s password" % uri).stdout == "s3cret\n"
    assert sh(sim, "consumer/0", "secret-get %s password --peek" % uri).stdout == "n3w\n"
    assert sh(sim, "consumer/0", "secret-get %s password" % uri).stdout == "s3cret\n"
    assert sh(sim, "consumer/0", "secret-get %s password --refresh" % uri).stdout == "n3w\n"
    assert sh(sim, "consumer/0", "secret-get %s password" % uri).stdout == "n3w\n"
    assert yaml.safe_load(sh(sim, "owner/0", "secret-info-get %s" % uri).stdout)[sid][
        "revision"] == 2
    # the non-leader may not change it
    assert sh(sim, "owner/1", "secret-set %s password=x" % uri, check=False).returncode == 1


def test_secret_changes_are_committed_with_the_hook(sim):
    failed = sh(sim, "owner/0", "secret-add --label never x-key=value; exit 1", check=False)
    assert failed.returncode == 1
    missing = sh(sim, "owner/0", "secret-get --label never", check=False)
    assert missing.returncode == 1 and 'secret "never" not found' in missing.stderr
    taken = sh(sim, "owner/0", "secret-add --label db-pass a-key=b", check=False)
    assert taken.returncode == 1 and "already exists" in taken.stderr
    bad = sh(sim, "owner/0", "secret-add A=b", check=False)
    assert bad.returncode == 1 and 'key "A" not valid' in bad.stderr


def test_grant_goes_with_the_relation_and_secret_remove(sim):
    uri, = json.loads(sh(sim, "owner/0", "secret-ids --format=json").stdout)
    assert sh(sim, "consumer/0", "secret-get %s" % uri, check=False).returncode == 0
    sim.run("remove-relation", "consumer:backend", "owner:api")
    sim.wait()
    denied = sh(sim, "consumer/0", "secret-get %s" % uri, check=False)
    assert denied.returncode == 1 and "permission denied" in denied.stderr
    sh(sim, "owner/0", "secret-remove %s" % uri)
    gone = sh(sim, "owner/0", "secret-get %s" % uri, check=False)
    assert gone.returncode == 1 and "not found" in gone.stderr


def test_ingress_address_differs_from_the_bind_address(sim):
    sim.run("deploy", SIMTEST, "floating", "--ingress-offset", str(OFFSET),
            "--config", "service_port=%d" % PORT)
    sim.run("relate", "owner:backend", "floating:api")
    sim.wait()
    unit = sim.unit("floating/0")
    host = int(unit["machine"]) + 1
    bind, ingress = sim.address(host), sim.address(host + OFFSET)
    assert unit["private-address"] == bind and unit["public-address"] == ingress
    net = yaml.safe_load(sh(sim, "floating/0", "network-get api --format yaml").stdout)
    assert net["bind-addresses"][0]["addresses"][0]["value"] == bind
    assert net["ingress-addresses"] == [ingress]
    assert net["egress-subnets"] == [ingress + "/32"]
    assert ingress not in [a["value"] for b in net["bind-addresses"] for a in b["addresses"]]
    out = sh(sim, "floating/0", "unit-get private-address; unit-get public-address; "
             "network-get api --bind-address; network-get api --ingress-address").stdout
    assert out.split() == [bind, ingress, bind, ingress]
    # remote units get the ingress address in Juju's relation settings
    seen = sim.hook_events("owner/1", "backend-relation-changed")[-1]["relation"]["data"]
    assert seen["floating/0"]["private-address"] == ingress
    assert seen["floating/0"]["ingress-address"] == ingress
    # the other applications keep ingress == bind
    other = sim.unit("owner/0")
    assert other["public-address"] == other["private-address"]
    # the service listens on its bind address; the ingress address reaches it (forwarded)
    assert http_get("http://%s:%d/" % (bind, PORT)).startswith("simtest floating/0")
    assert http_get("http://%s:%d/" % (ingress, PORT)).startswith("simtest floating/0")
    machines = sim.status()["machines"]
    assert machines[unit["machine"]]["ip-addresses"] == [bind, ingress]


def test_ingress_offset_must_leave_room(new_model):
    sim = new_model(ingress_offset=250)
    sim.run("deploy", SIMTEST, "a")
    bad = sim.run("add-unit", "a", "-n", "4", check=False)
    assert bad.returncode == 1 and "no more addresses" in bad.stderr
