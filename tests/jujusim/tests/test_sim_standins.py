"""The stand-in charms (postgresql, haproxy, ubuntu-advantage) with real servers."""

import os
import time

import pytest

from simtesting import TEST_CHARMS, http_get

SIMTEST = os.path.join(TEST_CHARMS, "simtest")
PORT = 18742


def get(url):
    return http_get(url)


def haproxy(sim):
    return "http://%s/" % sim.address(4)


def relation_data(sim, unit, endpoint, remote_unit):
    info = sim.json("show-unit", unit)[unit]["relation-info"]
    for rel in info:
        if rel["endpoint"] == endpoint:
            if remote_unit is None:
                return rel["application-data"]
            return rel["related-units"][remote_unit]["data"]
    raise AssertionError("%s has no %s relation" % (unit, endpoint))


@pytest.fixture(scope="module")
def sim(new_model):
    sim = new_model()
    sim.run("deploy", SIMTEST, "app", "-n", "2", "--config", "service_port=%d" % PORT)
    sim.run("deploy", "postgresql")
    sim.run("deploy", "haproxy")
    sim.run("deploy", "ubuntu-advantage")
    sim.run("relate", "app:db", "postgresql:db")
    sim.run("relate", "app", "haproxy")
    sim.run("relate", "app:ua", "ubuntu-advantage")
    sim.wait()
    return sim


def test_postgresql_creates_a_database_to_connect_to(sim):
    import psycopg2
    data = relation_data(sim, "app/1", "db", "postgresql/0")
    assert data["database"] == "simtestdb" and data["roles"] == "simrole"
    assert data["allowed-units"] == "app/0 app/1"
    assert data["allowed-subnets"] == "%s/32,%s/32" % (sim.address(1), sim.address(2))
    assert data["host"] == "127.0.0.1" and data["state"] == "standalone"
    assert "standbys" not in data           # published empty: Juju drops empty values
    assert data["master"] == "host=127.0.0.1 port=%s dbname=simtestdb user=%s password=%s" % (
        data["port"], data["user"], data["password"])
    conn = psycopg2.connect(data["master"])
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE kept (note text)")
        cur.execute("INSERT INTO kept VALUES ('still here')")
        cur.execute("SELECT pg_has_role(current_user, 'simrole', 'member'), current_database()")
        assert cur.fetchone() == (True, "simtestdb")
    conn.close()
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(data["master"].replace(data["password"], "wrong"))
    pg = sim.unit("postgresql/0")
    assert pg["workload-status"]["current"] == "active"
    assert pg["open-ports"] == ["%s/tcp" % data["port"]]


def test_haproxy_proxies_to_every_backend(sim):
    cfg = open(sim.unit_root("haproxy/0", "/etc/haproxy/haproxy.cfg")).read()
    assert "bind %s:80" % sim.address(4) in cfg and "option httpchk GET /debug/status" in cfg
    assert "server app-0 %s:%d check" % (sim.address(1), PORT) in cfg
    assert "server app-1 %s:%d check" % (sim.address(2), PORT) in cfg
    seen = {get(haproxy(sim)).split()[1] for _ in range(6)}
    assert seen == {"app/0", "app/1"}
    assert sim.unit("haproxy/0")["workload-status"]["message"] == \
        "serving 2 backends on %s:80" % sim.address(4)


def test_ubuntu_advantage_publishes_the_token(sim):
    ua = sim.unit("ubuntu-advantage/0")["workload-status"]
    assert ua["current"] == "blocked" and "missing token" in ua["message"]
    assert relation_data(sim, "app/0", "ua", None) == {
        "attached": "false", "contract_url": "https://contracts.canonical.com"}
    sim.run("config", "ubuntu-advantage", "token=C0ntr4ctT0ken")
    sim.wait()
    ua = sim.unit("ubuntu-advantage/0")["workload-status"]
    assert ua == {**ua, "current": "active", "message": "Attached"}
    assert relation_data(sim, "app/1", "ua", None) == {
        "attached": "true", "contract_url": "https://contracts.canonical.com",
        "token": "C0ntr4ctT0ken"}
    changed = [e for e in sim.events("app/1") if e["what"] == "hooks/ua-relation-changed"][-1]
    assert changed["env"]["JUJU_REMOTE_UNIT"] == "" and changed["relation"]["app_data"]["token"]


def test_db_relation_again_keeps_the_data(sim):
    import psycopg2
    before = relation_data(sim, "app/0", "db", "postgresql/0")
    sim.run("remove-relation", "app:db", "postgresql:db")
    sim.wait()
    sim.run("relate", "app:db", "postgresql:db")
    sim.wait()
    after = relation_data(sim, "app/0", "db", "postgresql/0")
    assert after["master"] == before["master"]
    conn = psycopg2.connect(after["master"])
    with conn, conn.cursor() as cur:
        cur.execute("SELECT note FROM kept")
        assert cur.fetchall() == [("still here",)]
    conn.close()


def test_haproxy_follows_unit_removal(sim):
    sim.run("remove-unit", "app/1")
    sim.wait()
    cfg = open(sim.unit_root("haproxy/0", "/etc/haproxy/haproxy.cfg")).read()
    assert "app-1" not in cfg and "server app-0" in cfg
    deadline = time.time() + 10
    while True:
        seen = {get(haproxy(sim)).split()[1] for _ in range(4)}
        if seen == {"app/0"} or time.time() > deadline:
            break
        time.sleep(0.2)
    assert seen == {"app/0"}
    assert "allowed-units" in relation_data(sim, "app/0", "db", "postgresql/0")
    assert relation_data(sim, "app/0", "db", "postgresql/0")["allowed-units"] == "app/0"
