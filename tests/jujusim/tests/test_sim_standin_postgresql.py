"""The postgresql stand-in (Charmed PostgreSQL VM, facts section 5) on Juju 2.9 with
real PostgreSQL servers: track 14's legacy `db`/`db-admin` (5a), `database` without
secrets (5b), the both-endpoints block, replicas and fail-over; track 16 refuses a
Juju 2.9 model. The requirers are the `pgclient` test charm."""

import os
import subprocess

import psycopg2
import pytest

from simtesting import TEST_CHARMS, wait_for

PGCLIENT = os.path.join(TEST_CHARMS, "pgclient")
BOTH = "Please choose one endpoint to use. No need to relate all of them simultaneously!"
ROLES = "roles requested through relation, use postgresql_client interface instead"
EXTENSIONS = "extensions requested through relation, enable them through config options"


@pytest.fixture(scope="module")
def sim(new_model):
    sim = new_model()
    sim.run("deploy", "postgresql", "pg", "-n", "2")
    sim.run("deploy", "postgresql", "pg16", "--channel", "16/edge")
    sim.run("deploy", PGCLIENT, "legacy", "-n", "2", "--config", "unit_database=legacydb")
    sim.run("relate", "legacy:db", "pg:db")
    sim.wait()
    return sim


def unit_data(sim, unit, endpoint, remote):
    for rel in sim.json("show-unit", unit)[unit]["relation-info"]:
        if rel["endpoint"] == endpoint:
            if remote is None:
                return rel["application-data"]
            return rel["related-units"][remote]["data"]
    raise AssertionError("%s has no %s relation" % (unit, endpoint))


def leader_status(sim, app="pg"):
    units = sim.status()["applications"][app]["units"]
    return [u["workload-status"] for u in units.values() if u["leader"]][0]



def test_track_16_needs_juju_3(sim):
    status = sim.unit("pg16/0")["workload-status"]
    assert status["current"] == "blocked" and "needs Juju >= 3.4.3" in status["message"]
    bad = sim.run("relate", "legacy:db", "pg16", check=False)      # no db endpoint on 16
    assert bad.returncode == 1 and "no relations found" in bad.stderr
    bad = sim.run("deploy", "postgresql", "pg99", "--channel", "99/edge", check=False)
    assert bad.returncode == 1 and 'no track "99"' in bad.stderr


def test_db_data_in_each_units_own_databag(sim):
    addr = {u: sim.unit(u)["private-address"] for u in ("pg/0", "pg/1", "legacy/0", "legacy/1")}
    primary, standby = unit_data(sim, "legacy/0", "db", "pg/0"), \
        unit_data(sim, "legacy/0", "db", "pg/1")
    assert unit_data(sim, "legacy/0", "db", None) == {}          # no application data
    rid = [r["relation-id"] for r in sim.json("show-unit", "pg/0")["pg/0"]["relation-info"]
           if r["endpoint"] == "db"][0]
    assert primary["user"] == standby["user"] == "relation-%d" % rid
    for data in (primary, standby):
        assert data["database"] == "legacydb" and data["port"] == "5432"
        assert data["host"] == addr["pg/0"]
        assert data["allowed-units"] == "legacy/0 legacy/1"
        assert data["allowed-subnets"] == "%s/32,%s/32" % (addr["legacy/0"], addr["legacy/1"])
        assert data["master"] == ("dbname=legacydb host=%s password=%s port=5432 user=%s" % (
            addr["pg/0"], data["password"], data["user"]))
        assert data["standbys"] == data["master"].replace(addr["pg/0"], addr["pg/1"])
        assert data["version"] and "extensions" not in data       # "" is not published
    assert (primary["state"], standby["state"]) == ("master", "hot standby")
    assert leader_status(sim) == {**leader_status(sim), "current": "active"}
    conn = psycopg2.connect(primary["master"])
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE kept (note text)")
        cur.execute("INSERT INTO kept VALUES ('still here')")
        cur.execute("SELECT current_user, current_database()")
        assert cur.fetchone() == (primary["user"], "legacydb")
    conn.close()
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(primary["master"].replace(primary["password"], "wrong"))

    def replicated():
        conn = psycopg2.connect(primary["standbys"])
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT to_regclass('kept') IS NOT NULL AND "
                            "EXISTS (SELECT 1 FROM kept), pg_is_in_recovery()")
                return cur.fetchone()
        except psycopg2.errors.UndefinedTable:
            return None
        finally:
            conn.close()
    assert wait_for(replicated, what="replication to pg/1") == (True, True)


def test_db_admin_database_name_from_app_data_and_superuser(sim):
    sim.run("deploy", PGCLIENT, "admin", "--config", "app_database=appdb",
            "--config", "unit_database=unitdb")
    sim.run("deploy", PGCLIENT, "named")
    sim.run("relate", "admin:db-admin", "pg:db-admin")
    sim.run("relate", "named:db", "pg:db")
    sim.wait()
    admin = unit_data(sim, "admin/0", "db-admin", "pg/0")
    assert admin["database"] == "appdb"                    # app data beats unit data
    assert unit_data(sim, "named/0", "db", "pg/1")["database"] == "named"   # the app name
    conn = psycopg2.connect(admin["master"])
    with conn, conn.cursor() as cur:
        cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert cur.fetchone() == (True,)
    conn.close()


def test_roles_and_extensions_block_the_leader(sim):
    sim.run("config", "admin", "app_roles=reporting")
    sim.wait()
    assert leader_status(sim)["current"] == "blocked"
    assert leader_status(sim)["message"] == ROLES
    sim.run("config", "admin", "app_roles=")
    sim.run("config", "named", "extensions=citext")
    sim.wait()
    assert (leader_status(sim)["current"], leader_status(sim)["message"]) == (
        "blocked", EXTENSIONS)
    sim.run("config", "pg", "plugin_citext_enable=true")
    sim.wait()
    bindir = sim.json("config", "pg", "pg_bin_dir")
    share = subprocess.run([os.path.join(bindir, "pg_config"), "--sharedir"],
                           capture_output=True, text=True).stdout.strip()
    if os.path.exists(os.path.join(share, "extension", "citext.control")):
        named = unit_data(sim, "named/0", "db", "pg/0")
        assert named["extensions"] == "citext" and leader_status(sim)["current"] == "active"
        conn = psycopg2.connect(named["master"])
        with conn, conn.cursor() as cur:
            cur.execute("SELECT 'A'::citext = 'a'::citext")
            assert cur.fetchone() == (True,)
        conn.close()
    else:   # these binaries (pgserver's) have no contrib extensions
        assert "extension citext is not available" in leader_status(sim)["message"]
    sim.run("config", "named", "extensions=")
    sim.wait()
    assert leader_status(sim)["current"] == "active"


def test_departing_requirer_unit_and_the_allowed_units_quirk(sim):
    sim.run("remove-unit", "legacy/1")
    sim.wait()
    info = [r for r in sim.json("show-unit", "legacy/0")["legacy/0"]["relation-info"]
            if r["endpoint"] == "db"][0]
    leader = info["related-units"]["pg/0"]["data"]
    assert leader["allowed-units"] == "legacy/0"
    assert leader["allowed_units"] == "legacy/0"                 # underscore, unit databag
    assert info["application-data"] == {"allowed_units": "legacy/0"}   # and app databag
    assert "allowed_units" not in info["related-units"]["pg/1"]["data"]


def test_database_and_db_at_once_block_the_legacy_side(sim):
    sim.run("deploy", PGCLIENT, "modern", "--config", "database=moderndb",
            "--config", "extra_user_roles=CREATEDB")
    sim.run("relate", "modern:database", "pg:database")
    sim.wait()
    assert leader_status(sim) == {**leader_status(sim), "current": "blocked", "message": BOTH}
    data = unit_data(sim, "modern/0", "database", None)
    addr = sim.unit("pg/0")["private-address"]
    standby = sim.unit("pg/1")["private-address"]
    user = data["username"]
    assert not [k for k in data if k.startswith("secret-")]      # Juju 2.9: plain fields
    assert data == {"database": "moderndb", "endpoints": "%s:5432" % addr,
                    "read-only-endpoints": "%s:5432" % standby, "version": data["version"],
                    "uris": "postgresql://%s:%s@%s:5432/moderndb" % (user, data["password"], addr),
                    "tls": "False", "username": user, "password": data["password"]}
    conn = psycopg2.connect(data["uris"])
    with conn, conn.cursor() as cur:
        cur.execute("SELECT rolcreatedb, rolsuper FROM pg_roles WHERE rolname = current_user")
        assert cur.fetchone() == (True, False)
    conn.close()
    for app, ep in (("admin", "db-admin"), ("named", "db"), ("legacy", "db")):
        sim.run("remove-relation", "%s:%s" % (app, ep), "pg")
    sim.wait()
    assert leader_status(sim)["current"] == "active"


def test_db_relation_again_keeps_the_data(sim):
    sim.run("relate", "legacy:db", "pg:db")
    sim.wait()
    assert leader_status(sim)["message"] == BOTH         # `database` is still related:
    assert "master" not in unit_data(sim, "legacy/0", "db", "pg/0")   # no db setup
    sim.run("remove-relation", "modern:database", "pg:database")
    sim.wait()
    assert leader_status(sim)["current"] == "active"
    again = unit_data(sim, "legacy/0", "db", "pg/0")
    conn = psycopg2.connect(again["master"])
    with conn, conn.cursor() as cur:
        cur.execute("SELECT note FROM kept")
        assert cur.fetchall() == [("still here",)]
        cur.execute("ALTER TABLE kept ADD COLUMN extra int")     # it owns the table now
    conn.close()


def test_failover_to_the_replica(sim):
    sim.run("remove-unit", "pg/0")
    sim.wait()
    units = sim.status()["applications"]["pg"]["units"]
    assert list(units) == ["pg/1"] and units["pg/1"]["leader"]
    data = unit_data(sim, "legacy/0", "db", "pg/1")
    assert data["host"] == units["pg/1"]["private-address"] and data["state"] == "standalone"
    assert "standbys" not in data
    conn = psycopg2.connect(data["master"])
    with conn, conn.cursor() as cur:
        cur.execute("SELECT pg_is_in_recovery(), (SELECT count(*) FROM kept)")
        assert cur.fetchone() == (False, 1)
        cur.execute("INSERT INTO kept VALUES ('after fail-over', 1)")
    conn.close()
