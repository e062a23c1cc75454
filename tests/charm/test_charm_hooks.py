"""Whole hooks: charms.reactive's main() with reactive/livepatch.py and the interface
layers, on FakeJuju (relation data, secrets, network-get, JUJU_VERSION) and a Machine
(systemd, files, schema CLI, a /debug/status answer where the service would listen).

What the real charms on the other side publish and read is in the team's reference
notes (real-charms-facts); each test names the section.
"""

import json

import bcrypt
import psycopg2.extensions
import pytest
import yaml
from charms.reactive import is_flag_set

from charms.livepatch import bootstrap, status, unit
from charmtest import load_interface, pro_attach

BIND, INGRESS = "127.0.0.2", "10.20.30.40"  # network-get website: bind-addresses vs ingress-addresses
SYNC_TOKEN = "resource-token-from-get-resource-token"  # what the leader holds once the action ran
for _interface in (("pgsql", "requires"), ("postgresql_client", "requires"), ("http", "provides"),
                   ("ua-token", "requires")):
    load_interface(*_interface)


@pytest.fixture
def lp(juju, machine):
    """A configured leader unit whose service (stand-in) answers on the website bind address."""
    juju.bind("website", bind=BIND, ingress=INGRESS)
    port = machine.serve(BIND)
    juju.config.update(url_template="http://lp.example/v1/patches/{filename}", port=port)
    juju.leader_data["resource-token"] = SYNC_TOKEN
    return juju


def dsn_of(machine):
    return psycopg2.extensions.parse_dsn(machine.rendered_config()["database_url"])


# --- database (postgresql_client) -------------------------------------------------------

PROVIDER = {  # what postgresql's leader publishes in application data (real-charms-facts §5b)
    "database": "livepatch",
    "endpoints": "10.1.1.9:5432",
    "read-only-endpoints": "10.1.1.10:5432",
    "version": "14.12",
    "tls": "False",
}
SECRET_USER = {
    "username": "relation-3",
    "password": "pw-from-the-secret",
    "uris": "postgresql://relation-3:pw-from-the-secret@10.1.1.9:5432/livepatch",
}


def test_database_relation_with_juju_secrets(lp, machine):
    """Juju >= 3.0.2 has secrets: we list requested-secrets, the provider answers with a
    secret-user URI, read with `secret-get <uri> --format=json` (§5b)."""
    uri = lp.add_secret(SECRET_USER)
    lp.relate("database:3", {"postgresql/0": {}}, app_data=dict(PROVIDER, **{"secret-user": uri}))
    lp.run_hook("database-relation-changed", "database:3", "postgresql/0")
    asked = lp.published("database:3", app=True)
    assert asked["database"] == "livepatch"
    assert {"username", "password", "uris"} <= set(json.loads(asked["requested-secrets"]))
    assert "extra-user-roles" not in asked
    assert dsn_of(machine) == {"host": "10.1.1.9", "port": "5432", "dbname": "livepatch",
                               "user": "relation-3", "password": "pw-from-the-secret"}
    assert ["secret-get", uri, "--format=json"] in lp.tool_calls("secret-get")
    assert lp.status == ("active", f"serving patches on :{lp.config['port']} (leader)")
    assert "pw-from-the-secret" not in repr(lp.statuses)


def test_database_relation_on_juju_2_9_plain_credentials_and_roles(lp, machine, monkeypatch):
    """Juju 2.9 has no secrets: no requested-secrets, credentials arrive as plain keys;
    psql_roles travel as extra-user-roles (§5b)."""
    monkeypatch.setenv("JUJU_VERSION", "2.9.49")
    lp.config["psql_roles"] = "reporting,audit"
    lp.relate("database:3", {"postgresql/0": {}},
              app_data=dict(PROVIDER, username="relation-3", password="plain-pw"))
    lp.run_hook("database-relation-changed", "database:3", "postgresql/0")
    asked = lp.published("database:3", app=True)
    assert asked == {"database": "livepatch", "extra-user-roles": "reporting,audit"}
    assert dsn_of(machine)["password"] == "plain-pw"
    assert lp.tool_calls("secret-get") == []
    assert lp.status[0] == "active"


def test_database_relation_uris_only(lp, machine):
    lp.relate("database:3", {"postgresql/0": {}},
              app_data={"database": "livepatch", "uris": "postgresql://u:p@10.1.1.9:5432/livepatch"})
    lp.run_hook("database-relation-changed", "database:3", "postgresql/0")
    assert machine.rendered_config()["database_url"] == "postgresql://u:p@10.1.1.9:5432/livepatch"


def test_database_relation_waits_for_the_answer(lp, machine):
    lp.relate("database:3", {"postgresql/0": {}})
    lp.run_hook("database-relation-joined", "database:3", "postgresql/0")
    assert lp.published("database:3", app=True)["database"] == "livepatch"
    assert lp.status == ("waiting", status.WAITING_DATABASE)
    assert not machine.service["active"]


def test_unreadable_secret_is_waiting_not_a_crash(lp, machine):
    lp.relate("database:3", {"postgresql/0": {}}, app_data=dict(PROVIDER, **{"secret-user": "secret:gone"}))
    lp.run_hook("database-relation-changed", "database:3", "postgresql/0")
    assert lp.status == ("waiting", status.WAITING_DATABASE)


def test_database_relation_on_a_follower_writes_no_application_data(lp, machine):
    lp.leader = False  # FakeJuju refuses relation-set --app from a non-leader
    lp.relate("database:3", {"postgresql/0": {}}, app_data=dict(PROVIDER, username="relation-3", password="pw"))
    lp.run_hook("database-relation-changed", "database:3", "postgresql/0")
    assert lp.published("database:3", app=True) == {}
    assert dsn_of(machine)["user"] == "relation-3"
    assert lp.status[0] == "active"


# --- db (pgsql), legacy ------------------------------------------------------------------


def pg14_unit(state, host, user="relation-7", password="pw14", standbys=""):
    """One postgresql unit's own databag on the db endpoint (real-charms-facts §5a)."""
    master = f"dbname=livepatch host=10.1.1.9 password={password} port=5432 user={user}"
    return {
        "allowed-subnets": "127.0.0.2/32", "allowed-units": "livepatch/0", "host": "10.1.1.9", "port": "5432",
        "user": user, "password": password, "database": "livepatch", "master": master, "standbys": standbys,
        "state": state, "extensions": "", "version": "14.12", "private-address": host,
    }


def test_db_relation_asks_in_app_and_unit_data_and_uses_the_primary(lp, machine):
    standby = pg14_unit("hot standby", "10.1.1.10", user="stale", password="stale")
    primary = pg14_unit("master", "10.1.1.9", standbys="dbname=livepatch host=10.1.1.10 port=5432,"
                                                       "dbname=livepatch host=10.1.1.11 port=5432")
    lp.relate("db:7", {"postgresql/0": standby, "postgresql/1": primary})
    lp.run_hook("db-relation-changed", "db:7", "postgresql/1")
    assert lp.published("db:7", app=True) == {"database": "livepatch"}
    assert lp.published("db:7") == {"database": "livepatch"}  # no roles, no extensions
    assert dsn_of(machine)["user"] == "relation-7"  # from the unit in state master, not the standby
    assert lp.status[0] == "active"


def test_db_relation_standalone_and_no_roles_echo(lp, machine):
    lp.relate("db:7", {"postgresql/0": pg14_unit("standalone", "10.1.1.9")})
    lp.run_hook("db-relation-changed", "db:7", "postgresql/0")
    assert dsn_of(machine)["password"] == "pw14"


def test_db_relation_without_a_primary_waits(lp, machine):
    lp.relate("db:7", {"postgresql/0": pg14_unit("hot standby", "10.1.1.10")})
    lp.run_hook("db-relation-changed", "db:7", "postgresql/0")
    assert lp.status == ("waiting", status.WAITING_DATABASE)


def test_roles_over_db_block_and_say_to_use_database(lp, machine):
    """PG14 blocks on roles over db and grants them over postgresql_client only (§5a)."""
    lp.config["psql_roles"] = "reporting"
    lp.relate("db:7", {"postgresql/0": pg14_unit("master", "10.1.1.9")})
    lp.run_hook("db-relation-changed", "db:7", "postgresql/0")
    assert lp.status == ("blocked", "psql_roles cannot be granted over db: use the database relation instead")
    assert lp.published("db:7") == {} and lp.published("db:7", app=True) == {}


def test_both_database_endpoints_block(lp, machine):
    lp.relate("db:7", {"postgresql/0": pg14_unit("master", "10.1.1.9")})
    lp.relate("database:3", {"postgresql/0": {}}, app_data=dict(PROVIDER, username="u", password="p"))
    lp.run_hook("database-relation-joined", "database:3", "postgresql/0")
    assert lp.status == ("blocked", "related to PostgreSQL over both db and database: remove the db relation")
    assert not machine.service["active"]


def test_no_database_relation(lp, machine):
    lp.run_hook("install")
    assert lp.status == ("blocked", "missing relation: database")


# --- website: haproxy's reverseproxy, bind vs ingress --------------------------------------


def with_db(juju):
    juju.relate("database:3", {"postgresql/0": {}}, app_data=dict(PROVIDER, username="u", password="p"))


def test_website_publishes_what_haproxy_reads(lp, machine):
    """haproxy reads port and private-address, and a `services` YAML that replaces its own
    service (real-charms-facts §6); we ask for an HTTP check of /debug/status."""
    with_db(lp)
    lp.relate("website:4", {"haproxy/0": {"private-address": "10.20.0.1"}})
    lp.run_hook("website-relation-joined", "website:4", "haproxy/0")
    data = lp.published("website:4")
    port = lp.config["port"]
    assert data["port"] == str(port)
    assert data["private-address"] == INGRESS  # the ingress address, not the bind address
    assert yaml.safe_load(data["services"]) == [{
        "service_name": "livepatch",
        "service_host": "0.0.0.0",
        "service_port": 80,
        "service_options": ["mode http", "balance leastconn", "option httpchk GET /debug/status",
                            "option forwardfor",  # X-Forwarded-For: the client's address
                            "option redispatch", "retries 3"],  # a stopping unit's refusals retried
        "servers": [["livepatch-0", INGRESS, port, "check inter 2000 rise 2 fall 5"]],
    }]
    assert machine.rendered_config()["bind_address"] == BIND  # bind-addresses[0].addresses[0].value
    assert lp.status[0] == "active"  # the health check reached the service on the bind address


def test_related_haproxy_units_are_the_trusted_proxies(lp, machine):
    """The server believes X-Forwarded-For from the haproxy units related on website (their
    private-address and ingress-address as Juju puts them in relation data), plus the
    operator's trusted_proxies; a unit that leaves is trusted no more."""
    with_db(lp)
    lp.config["trusted_proxies"] = "192.168.10.0/24"
    lp.relate("website:4", {"haproxy/0": {"private-address": "10.20.0.1", "ingress-address": "10.20.0.1"},
                            "haproxy/1": {"private-address": "10.20.0.2", "ingress-address": "172.16.0.2"}})
    lp.run_hook("website-relation-changed", "website:4", "haproxy/1")
    trusted = machine.rendered_config()["trusted_proxies"]
    assert trusted.split(",") == ["192.168.10.0/24", "10.20.0.1", "10.20.0.2", "172.16.0.2"]
    restarts = [call for call in machine.systemctl_calls() if call[0] == "restart"]

    del lp.relations["website:4"]["units"]["haproxy/1"]
    lp.run_hook("website-relation-departed", "website:4", "haproxy/1")
    assert machine.rendered_config()["trusted_proxies"] == "192.168.10.0/24,10.20.0.1"
    assert len([call for call in machine.systemctl_calls() if call[0] == "restart"]) == len(restarts) + 1


def test_no_proxy_related_trusts_only_the_option(lp, machine):
    with_db(lp)
    lp.run_hook("config-changed")
    assert machine.rendered_config()["trusted_proxies"] == ""


def test_listen_on_all_addresses(juju, machine):
    juju.bind("website", bind=BIND, ingress=INGRESS)
    port = machine.serve("127.0.0.1")  # 0.0.0.0 answers on loopback: the health check goes there
    juju.config.update(url_template="http://lp.example/v1/patches/{filename}", port=port,
                       listen_on_all_addresses=True, patch_sync_enabled=False)
    with_db(juju)
    juju.relate("website:4", {"haproxy/0": {}})
    juju.run_hook("website-relation-changed", "website:4", "haproxy/0")
    assert machine.rendered_config()["bind_address"] == "0.0.0.0"
    assert juju.published("website:4")["private-address"] == INGRESS
    assert juju.status[0] == "active"


# --- series upgrade -------------------------------------------------------------------------


def systemctl_verbs(machine, since=0):
    return [call[0] for call in machine.systemctl_calls()[since:]]


def test_series_upgrade_pauses_until_post_series_upgrade(lp, machine):
    with_db(lp)
    lp.run_hook("install")
    assert lp.status[0] == "active" and machine.service == {"active": True, "enabled": True}

    lp.run_hook("pre-series-upgrade")
    assert machine.service == {"active": False, "enabled": False}
    assert is_flag_set(unit.PAUSED_FLAG)
    assert lp.status == ("blocked", "series upgrade in progress: run post-series-upgrade when done")

    # Nothing brings it back meanwhile: hooks, a config change, leadership, the restart action.
    before, rendered = len(machine.systemctl_calls()), machine.rendered_config()
    lp.config["log_level"] = "debug"
    for hook in ("update-status", "config-changed", "leader-settings-changed", "database-relation-changed"):
        lp.run_hook(hook)
        assert lp.status == ("blocked", status.PAUSED), hook
    lp.run_action("restart")
    assert lp.failure.startswith("the unit is paused for a series upgrade")
    assert not set(systemctl_verbs(machine, before)) & {"start", "restart", "enable"}
    assert machine.service == {"active": False, "enabled": False}
    assert machine.rendered_config() == rendered

    # The bootstrap of post-series-upgrade rebuilds the venv for the new Python.
    assert bootstrap._needs_build(machine.venv, "post-series-upgrade")
    machine.build_venv("3.12")
    before = len(machine.systemctl_calls())
    lp.run_hook("post-series-upgrade")
    assert not is_flag_set(unit.PAUSED_FLAG)
    assert machine.service == {"active": True, "enabled": True}
    verbs = systemctl_verbs(machine, before)
    assert "enable" in verbs and "start" in verbs
    assert verbs[-2:] == ["restart", "is-active"]  # on the new venv, and the new log_level
    assert machine.rendered_config()["log_level"] == "debug"
    assert lp.status == ("active", f"serving patches on :{lp.config['port']} (leader)")


def test_series_upgrade_before_the_service_was_set_up(lp, machine):
    lp.run_hook("install")  # no database: nothing rendered, no unit file
    lp.run_hook("pre-series-upgrade")
    assert lp.status == ("blocked", status.PAUSED)
    lp.run_hook("post-series-upgrade")
    assert lp.status == ("blocked", "missing relation: database")


# --- the operator guide's walk-through (docs/charm-README.md, Deploy) -----------------------


def test_the_deploy_walk_through(juju, machine, pro_files, contracts_server, contract_token):
    """The legacy on-prem flow (real-charms-facts §8): deployed and related, the unit asks for
    the sync token first; once ubuntu-advantage has attached the machine, get-resource-token
    with no parameters gets it; then url_template and auth_basic_users; then active."""
    juju.bind("website", bind=BIND, ingress=INGRESS)
    juju.config["port"] = machine.serve(BIND)
    with_db(juju)
    juju.relate("website:4", {"haproxy/0": {}})
    juju.run_hook("install")
    assert juju.status == ("blocked", "sync_token not set: run the get-resource-token action")

    # juju config ubuntu-advantage token=...: the subordinate attaches the machine
    pro_attach(str(pro_files), contracts_server, contract_token, contract_url=contracts_server.url)
    (attached,) = contracts_server.machines_for(contract_token)
    juju.run_action("get-resource-token")
    assert juju.failure is None and juju.results["source"] == "pro-attachment"
    juju.run_hook("leader-settings-changed")
    assert juju.status == ("blocked", "url_template not set")

    admin = "admin:" + bcrypt.hashpw(b"secret", bcrypt.gensalt(4)).decode()
    juju.config.update(url_template="http://10.20.0.1/v1/patches/{filename}", auth_basic_users=admin)
    juju.run_hook("config-changed")
    assert juju.status == ("active", f"serving patches on :{juju.config['port']} (leader)")
    assert machine.rendered_config()["sync_token"] == contracts_server.resource_token_for(attached.machine_token)


# --- the resource token reaches units added later -------------------------------------------


def test_a_unit_added_after_get_resource_token_syncs_with_it(lp, machine):
    """Leader data is the application's: a unit that joins later reads it, no second run."""
    lp.leader, lp.unit = False, "livepatch/3"
    with_db(lp)
    lp.run_hook("install")
    assert machine.rendered_config()["sync_token"] == SYNC_TOKEN
    assert lp.status == ("active", f"serving patches on :{lp.config['port']}")
