"""The postgresql stand-in, track 16, in a Juju 3 model: `database` answered with
Juju secrets when the requirer asks for them (requested-secrets), plain fields
otherwise (real-charms-facts.md section 5b); the credentials work."""

import os

import psycopg2
import pytest
import yaml

from simtesting import TEST_CHARMS

PGCLIENT = os.path.join(TEST_CHARMS, "pgclient")


@pytest.fixture(scope="module")
def sim(new_model):
    sim = new_model(juju_version="3.4.5")
    sim.run("deploy", "postgresql", "--channel", "16/edge")
    sim.run("deploy", PGCLIENT, "app16", "--config", "database=appdb",
            "--config", "extra_user_roles=reporting")
    sim.run("deploy", PGCLIENT, "plain16", "--config", "use_secrets=false")
    sim.run("relate", "app16", "postgresql")          # only `database` matches
    sim.run("relate", "plain16", "postgresql")
    sim.wait()
    return sim


def relation(sim, unit):
    """(relation id number, what the unit saw in its last database-relation-changed)."""
    changed = [e for e in sim.events(unit) if e["what"] == "hooks/database-relation-changed"]
    return changed[-1]["env"]["JUJU_RELATION_ID"].split(":")[1], changed[-1]["relation"]


def test_track_16_has_only_database(sim):
    status = sim.status()
    assert status["applications"]["postgresql"]["relations"] == {
        "database": ["app16", "plain16"], "database-peers": ["postgresql"]}
    bad = sim.run("relate", "app16:db", "postgresql", check=False)
    assert bad.returncode == 1 and "no relations found" in bad.stderr
    assert sim.unit("postgresql/0")["workload-status"]["current"] == "active"


def test_secrets_when_requested(sim):
    rid, rel = relation(sim, "app16/0")
    data = rel["app_data"]
    assert sorted(data) == ["database", "endpoints", "read-only-endpoints", "secret-tls",
                            "secret-user", "version"]
    assert data["secret-user"].startswith("secret:") and data["secret-tls"].startswith("secret:")
    user = rel["secrets"]["secret-user"]
    assert sorted(user) == ["password", "read-only-uris", "uris", "username"]
    assert rel["secrets"]["secret-tls"] == {"tls": "False"}
    assert user["username"] == "relation-%s" % rid
    host = sim.unit("postgresql/0")["private-address"]
    assert user["uris"] == "postgresql://%s:%s@%s:5432/appdb" % (
        user["username"], user["password"], host)
    conn = psycopg2.connect(user["uris"])
    with conn, conn.cursor() as cur:
        cur.execute("SELECT current_user, current_database(), "
                    "pg_has_role(current_user, 'reporting', 'member')")
        assert cur.fetchone() == (user["username"], "appdb", True)
    conn.close()
    # the provider's labels, and a grant only to the requirer of that relation
    info = yaml.safe_load(sim.exec("postgresql/0", "secret-info-get --label database.%s.user.secret"
                                   % rid).stdout)
    (sid, meta), = info.items()
    assert data["secret-user"] == "secret:" + sid and meta["owner"] == "application"
    assert meta["access"] == [{"target": "application-app16", "scope": "relation-%s" % rid,
                               "role": "view"}]
    denied = sim.exec("plain16/0", "secret-get %s" % data["secret-user"], check=False)
    assert denied.returncode == 1 and "permission denied" in denied.stderr


def test_plain_fields_without_requested_secrets(sim):
    data = relation(sim, "plain16/0")[1]["app_data"]
    assert not [k for k in data if k.startswith("secret-")]
    assert data["tls"] == "False" and data["database"] == "clientdb"
    conn = psycopg2.connect(data["uris"])
    with conn, conn.cursor() as cur:
        cur.execute("SELECT current_user")
        assert cur.fetchone() == (data["username"],)
    conn.close()
