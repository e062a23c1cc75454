"""The interface layers: flags, keys read and written, both sides of each."""

import json

import psycopg2.extensions
import pytest
import yaml
from charms.reactive import is_flag_set

from charmtest import flush, load_interface

pgsql_requires = load_interface("pgsql", "requires")
pg_client = load_interface("postgresql_client", "requires")
pgsql_provides = load_interface("pgsql", "provides")
http_requires = load_interface("http", "requires")
http_provides = load_interface("http", "provides")
ua_requires = load_interface("ua-token", "requires")
ua_provides = load_interface("ua-token", "provides")

SERVER = {
    "host": "10.0.0.9",
    "port": "5432",
    "database": "livepatch",
    "user": "juju_livepatch",
    "password": "s3cret",
    "allowed-units": "livepatch/0 livepatch/1",
    "allowed-subnets": "",
    "master": "host=10.0.0.9 port=5432 dbname=livepatch user=juju_livepatch password=s3cret",
    "standbys": "",
    "state": "master",
    "version": "14",
}
REQUEST = {"database": "livepatch"}


def db_endpoint(juju, server_data, request=REQUEST, local_extra=None):
    juju.relate("db:1", {"postgresql/0": server_data}, local=dict(request, **(local_extra or {})))
    endpoint = pgsql_requires.PgsqlRequires("db", ["db:1"])
    endpoint.manage_flags()
    return endpoint


# --- pgsql, requires --------------------------------------------------------------


def test_pgsql_ready_once_granted(juju):
    endpoint = db_endpoint(juju, SERVER)
    assert is_flag_set("db.connected")
    assert is_flag_set("db.database.available")
    assert is_flag_set("db.master.available")
    assert endpoint.master == SERVER["master"]
    assert endpoint.version == "14"


def test_pgsql_not_ready_before_the_server_answers(juju):
    endpoint = db_endpoint(juju, {})
    assert is_flag_set("db.connected")
    assert not is_flag_set("db.database.available")
    assert not is_flag_set("db.master.available")
    assert endpoint.master is None


@pytest.mark.parametrize(
    "change, why",
    [
        ({"database": "other"}, "echoes another database"),
        ({"allowed-units": "livepatch/1"}, "does not allow our unit"),
        ({"allowed-units": ""}, "allows nobody yet"),
        ({"password": ""}, "sent no password"),
    ],
)
def test_pgsql_waits_until_the_request_is_really_granted(juju, change, why):
    endpoint = db_endpoint(juju, dict(SERVER, **change))
    assert not is_flag_set("db.master.available"), why
    assert endpoint.master is None


def test_pgsql_no_master_string_means_database_but_not_master(juju):
    endpoint = db_endpoint(juju, dict(SERVER, master=""))
    assert is_flag_set("db.database.available")
    assert not is_flag_set("db.master.available")
    assert endpoint.master is None


def test_pgsql_allowed_by_subnet(juju):
    server = dict(SERVER, **{"allowed-units": "", "allowed-subnets": "10.0.0.0/24,192.168.0.0/16"})
    endpoint = db_endpoint(juju, server, local_extra={"egress-subnets": "10.0.0.5/32"})
    assert endpoint.master == SERVER["master"]


def test_pgsql_subnet_outside_the_allowed_ones(juju):
    server = dict(SERVER, **{"allowed-units": "", "allowed-subnets": "10.0.0.0/24"})
    endpoint = db_endpoint(juju, server, local_extra={"egress-subnets": "10.9.0.5/32"})
    assert endpoint.master is None


def test_pgsql_subnet_from_ingress_address_without_egress_subnets(juju):
    server = dict(SERVER, **{"allowed-units": "", "allowed-subnets": "10.0.0.0/24"})
    endpoint = db_endpoint(juju, server, local_extra={"ingress-address": "10.0.0.7"})
    assert endpoint.master == SERVER["master"]


def test_pgsql_roles_are_not_waited_for(juju):
    """The postgresql charm echoes no roles over db (real-charms-facts §5a): no echo to wait on."""
    endpoint = db_endpoint(juju, dict(SERVER, roles=""), request=dict(REQUEST, roles="audit"))
    assert endpoint.master == SERVER["master"]


def test_pgsql_master_only_from_the_primary(juju):
    """Every postgresql unit publishes its own state; the master string is taken from the
    unit in state master or standalone (real-charms-facts §5a)."""
    standby = dict(SERVER, state="hot standby", master="host=stale")
    juju.relate("db:1", {"postgresql/0": standby, "postgresql/1": dict(SERVER, state="master")}, local=REQUEST)
    endpoint = pgsql_requires.PgsqlRequires("db", ["db:1"])
    endpoint.manage_flags()
    assert endpoint.master == SERVER["master"]
    juju.relations["db:1"]["units"].pop("postgresql/1")
    endpoint = pgsql_requires.PgsqlRequires("db", ["db:1"])
    endpoint.manage_flags()
    assert endpoint.master is None
    assert is_flag_set("db.database.available") and not is_flag_set("db.master.available")


@pytest.mark.parametrize("standbys", [
    "host=10.0.0.10 port=5432,host=10.0.0.11 port=5432",  # the postgresql charm: commas
    "host=10.0.0.10 port=5432\nhost=10.0.0.11 port=5432\n",  # the classic protocol: new lines
])
def test_pgsql_standbys_by_comma_or_newline(juju, standbys):
    endpoint = db_endpoint(juju, dict(SERVER, standbys=standbys))
    assert endpoint.standbys == ["host=10.0.0.10 port=5432", "host=10.0.0.11 port=5432"]


def test_pgsql_standbys_keep_a_comma_inside_quotes():
    assert pgsql_requires.split_standbys("host=a password='x,y',host=b") == ["host=a password='x,y'", "host=b"]
    assert pgsql_requires.split_standbys("") == []


def test_pgsql_set_database_in_unit_and_application_data(juju):
    """The postgresql charm reads database from the app databag first, then units' (§5a)."""
    juju.relate("db:1", {"postgresql/0": {}})
    endpoint = pgsql_requires.PgsqlRequires("db", ["db:1"])
    endpoint.set_database("livepatch")
    flush(endpoint)
    assert juju.published("db:1") == {"database": "livepatch"}
    assert juju.published("db:1", app=True) == {"database": "livepatch"}


def test_pgsql_set_database_on_a_follower_writes_unit_data_only(juju):
    juju.leader = False
    juju.relate("db:1", {"postgresql/0": {}})
    endpoint = pgsql_requires.PgsqlRequires("db", ["db:1"])
    endpoint.set_database("livepatch")
    flush(endpoint)  # FakeJuju refuses application data from a follower
    assert juju.published("db:1") == {"database": "livepatch"}
    assert juju.published("db:1", app=True) == {}


def test_pgsql_flags_cleared_when_the_relation_goes(juju):
    db_endpoint(juju, SERVER)
    assert is_flag_set("db.master.available")
    juju.relations["db:1"]["units"].clear()  # relation-broken: no units left
    pgsql_requires.PgsqlRequires("db", ["db:1"]).manage_flags()
    for flag in ("db.connected", "db.database.available", "db.master.available"):
        assert not is_flag_set(flag)


# --- pgsql, provides --------------------------------------------------------------


def test_pgsql_provides_lists_requests_and_grants(juju):
    juju.unit = "postgresql/0"
    juju.relate(
        "db:7",
        {
            "livepatch/0": {"database": "livepatch", "roles": "reporting", "egress-subnets": "10.0.0.5/32"},
            "livepatch/1": {"database": "livepatch", "roles": "reporting", "ingress-address": "10.0.0.6"},
        },
    )
    endpoint = pgsql_provides.PgsqlProvides("db", ["db:7"])
    endpoint.manage_flags()
    assert is_flag_set("db.database.requested")
    (request,) = endpoint.requests()
    assert request.database == "livepatch" and request.roles == ["reporting"]
    assert request.units == ["livepatch/0", "livepatch/1"]
    assert request.subnets == ["10.0.0.5/32", "10.0.0.6"]

    endpoint.grant("db:7", "10.0.0.9", 5432, "livepatch", "u", "p w'd\\x", version="14", roles=request.roles)
    flush(endpoint)
    data = juju.published("db:7")
    assert data["allowed-units"] == "livepatch/0 livepatch/1"
    assert data["state"] == "standalone" and data["version"] == "14" and data["roles"] == "reporting"
    # libpq itself reads the password back, quotes and backslash included
    parsed = psycopg2.extensions.parse_dsn(data["master"])
    assert parsed == {"host": "10.0.0.9", "port": "5432", "dbname": "livepatch", "user": "u", "password": "p w'd\\x"}


def test_pgsql_grant_from_provides_makes_requires_ready(juju):
    juju.unit = "postgresql/0"
    juju.relate("db:7", {"livepatch/0": {"database": "livepatch"}})
    server = pgsql_provides.PgsqlProvides("db", ["db:7"])
    server.grant("db:7", "10.0.0.9", 5432, "livepatch", "u", "pw")
    flush(server)
    granted = dict(juju.published("db:7"))

    juju.unit = "livepatch/0"
    endpoint = db_endpoint(juju, granted)
    assert endpoint.master == "host=10.0.0.9 port=5432 dbname=livepatch user=u password=pw"


def test_libpq_quoting():
    assert pgsql_provides.libpq_dsn("h", 1, "d", "u", "") == "host=h port=1 dbname=d user=u password=''"


# --- http -------------------------------------------------------------------------


def test_http_provides_publishes_address_and_port(juju):
    juju.relate("website:3", {"haproxy/0": {}}, local={"ingress-address": "10.0.0.5"})
    endpoint = http_provides.HttpProvides("website", ["website:3"])
    endpoint.manage_flags()
    assert is_flag_set("website.available")
    endpoint.configure(8080)
    flush(endpoint)
    assert juju.published("website:3") == {
        "ingress-address": "10.0.0.5",
        "hostname": "10.0.0.5",
        "private-address": "10.0.0.5",
        "port": "8080",
    }
    endpoint = http_provides.HttpProvides("website", ["website:3"])
    endpoint.configure(8081, private_address="192.168.1.2", hostname="lp.example")
    flush(endpoint)
    assert juju.published("website:3")["hostname"] == "lp.example"
    assert juju.published("website:3")["private-address"] == "192.168.1.2"
    assert juju.published("website:3")["port"] == "8081"


def test_http_provides_services_yaml(juju):
    juju.relate("website:3", {"haproxy/0": {}}, local={"ingress-address": "10.0.0.5"})
    endpoint = http_provides.HttpProvides("website", ["website:3"])
    services = [{"service_name": "livepatch", "service_port": 80, "servers": [["livepatch-0", "10.0.0.5", 8080, "check"]]}]
    endpoint.configure(8080, services=services)
    flush(endpoint)
    assert yaml.safe_load(juju.published("website:3")["services"]) == services
    endpoint = http_provides.HttpProvides("website", ["website:3"])
    endpoint.configure(8080)  # no services: withdrawn
    flush(endpoint)
    assert "services" not in juju.published("website:3")


def test_http_provides_lists_the_proxies_addresses(juju):
    """Juju puts private-address and ingress-address in every unit's relation data."""
    juju.relate("website:3", {"haproxy/0": {"private-address": "10.0.0.7", "ingress-address": "10.0.0.7"},
                              "haproxy/1": {"private-address": "10.0.0.8", "ingress-address": "192.0.2.8"},
                              "haproxy/2": {}})
    juju.relate("website:4", {"other-proxy/0": {"private-address": "10.0.1.1"}})
    endpoint = http_provides.HttpProvides("website", ["website:3", "website:4"])
    assert endpoint.proxy_addresses() == ["10.0.0.7", "10.0.0.8", "192.0.2.8", "10.0.1.1"]
    assert http_provides.HttpProvides("website", []).proxy_addresses() == []


def test_http_provides_not_available_without_proxy(juju):
    http_provides.HttpProvides("website", []).manage_flags()
    assert not is_flag_set("website.available")


def test_http_requires_lists_services(juju):
    juju.unit = "haproxy/0"
    juju.relate(
        "reverseproxy:4",
        {
            "livepatch/0": {"private-address": "10.0.0.5", "hostname": "10.0.0.5", "port": "8080"},
            "livepatch/1": {"private-address": "10.0.0.6", "port": "8080"},
            "livepatch/2": {"private-address": "10.0.0.7"},  # no port yet
        },
    )
    endpoint = http_requires.HttpRequires("reverseproxy", ["reverseproxy:4"])
    endpoint.manage_flags()
    assert is_flag_set("reverseproxy.available")
    assert endpoint.services() == [
        {
            "service_name": "livepatch",
            "hosts": [
                {"hostname": "10.0.0.5", "private-address": "10.0.0.5", "port": "8080"},
                {"hostname": "10.0.0.6", "private-address": "10.0.0.6", "port": "8080"},
            ],
        }
    ]


def test_http_requires_unavailable_until_a_port(juju):
    juju.unit = "haproxy/0"
    juju.relate("reverseproxy:4", {"livepatch/0": {"private-address": "10.0.0.5"}})
    endpoint = http_requires.HttpRequires("reverseproxy", ["reverseproxy:4"])
    endpoint.manage_flags()
    assert not is_flag_set("reverseproxy.available")
    assert endpoint.services() == []


# --- ua-token -------------------------------------------------------------------------


def test_ua_token_read_from_application_data(juju):
    juju.relate(
        "ua:5",
        {"ubuntu-advantage/0": {}},
        app_data={"token": "C0ntr4ct", "contract_url": "https://contracts.example", "attached": "true"},
    )
    endpoint = ua_requires.UaTokenRequires("ua", ["ua:5"])
    endpoint.manage_flags()
    assert is_flag_set("ua.connected") and is_flag_set("ua.token.available") and is_flag_set("ua.attached")
    assert endpoint.token() == "C0ntr4ct"
    assert endpoint.contract_url() == "https://contracts.example"


def test_ua_token_json_encoded_values_are_accepted(juju):
    juju.relate("ua:5", {"ubuntu-advantage/0": {}}, app_data={"token": '"C0ntr4ct"', "attached": "false"})
    endpoint = ua_requires.UaTokenRequires("ua", ["ua:5"])
    endpoint.manage_flags()
    assert endpoint.token() == "C0ntr4ct"
    assert not is_flag_set("ua.attached")


def test_ua_token_absent(juju):
    juju.relate("ua:5", {"ubuntu-advantage/0": {}}, app_data={"attached": "false"})
    endpoint = ua_requires.UaTokenRequires("ua", ["ua:5"])
    endpoint.manage_flags()
    assert is_flag_set("ua.connected")
    assert not is_flag_set("ua.token.available")
    assert endpoint.token() is None


def test_ua_token_not_read_from_our_own_app_without_units(juju):
    juju.relate("ua:5", {})
    juju.relations["ua:5"]["local_app"] = {"token": "ours"}
    endpoint = ua_requires.UaTokenRequires("ua", ["ua:5"])
    endpoint.manage_flags()
    assert endpoint.token() is None
    assert not is_flag_set("ua.connected")


def test_ua_token_provider_publishes_app_data_as_leader(juju):
    juju.unit = "ubuntu-advantage/0"
    juju.relate("ua:5", {"livepatch/0": {}})
    endpoint = ua_provides.UaTokenProvides("ua", ["ua:5"])
    endpoint.manage_flags()
    assert is_flag_set("ua.connected")
    endpoint.publish("C0ntr4ct", attached=True)
    flush(endpoint)
    assert juju.published("ua:5", app=True) == {
        "token": "C0ntr4ct",
        "contract_url": "https://contracts.canonical.com",
        "attached": "true",
    }


def test_ua_token_provider_refuses_when_not_leader(juju):
    juju.unit = "ubuntu-advantage/1"
    juju.leader = False
    juju.relate("ua:5", {"livepatch/0": {}})
    with pytest.raises(RuntimeError, match="leader"):
        ua_provides.UaTokenProvides("ua", ["ua:5"]).publish("C0ntr4ct")


# --- postgresql_client, requires ----------------------------------------------------------

PROVIDER = {"database": "livepatch", "endpoints": "10.0.0.9:5432,10.0.0.10:5432", "version": "14.12"}


def client(juju, app_data, rid="database:2"):
    juju.relate(rid, {"postgresql/0": {}}, app_data=app_data)
    endpoint = pg_client.PostgresqlClientRequires("database", [rid])
    endpoint.manage_flags()
    return endpoint


@pytest.mark.parametrize("version, has", [("3.0.2", True), ("3.1.6", True), ("3.4-beta1", True), ("4.0.0", True),
                                          ("3.0.1", False), ("2.9.49", False), ("", False)])
def test_postgresql_client_juju_secrets_from_version(version, has):
    assert pg_client.juju_has_secrets(version) is has


def test_postgresql_client_request_in_application_data(juju):
    endpoint = client(juju, {})
    assert is_flag_set("database.connected") and not is_flag_set("database.database.available")
    assert endpoint.request("livepatch", roles="reporting, audit", juju_version="3.4.5") is True
    flush(endpoint)
    data = juju.published("database:2", app=True)
    assert data["database"] == "livepatch" and data["extra-user-roles"] == "reporting,audit"
    assert json.loads(data["requested-secrets"]) == ["username", "password", "uris", "tls", "tls-ca"]
    assert juju.published("database:2") == {}  # nothing in unit data
    endpoint = pg_client.PostgresqlClientRequires("database", ["database:2"])
    endpoint.request("livepatch", juju_version="2.9.49")  # no secrets, no roles: both keys go
    flush(endpoint)
    assert juju.published("database:2", app=True) == {"database": "livepatch"}


def test_postgresql_client_request_is_leader_only(juju):
    juju.leader = False
    endpoint = client(juju, {})
    assert endpoint.request("livepatch") is False
    flush(endpoint)
    assert juju.published("database:2", app=True) == {}


def test_postgresql_client_plain_credentials(juju):
    endpoint = client(juju, dict(PROVIDER, username="relation-2", password="p w'd"))
    assert is_flag_set("database.database.available")
    found = endpoint.credentials("livepatch")
    assert (found["host"], found["port"], found["user"]) == ("10.0.0.9", "5432", "relation-2")
    assert "p w'd" not in repr(found)
    assert psycopg2.extensions.parse_dsn(endpoint.dsn("livepatch")) == {
        "host": "10.0.0.9", "port": "5432", "dbname": "livepatch", "user": "relation-2", "password": "p w'd"}


def test_postgresql_client_credentials_from_the_secret(juju):
    uri = juju.add_secret({"username": "relation-2", "password": "from-secret", "uris": "postgresql://x"})
    endpoint = client(juju, dict(PROVIDER, **{"secret-user": uri}))
    assert psycopg2.extensions.parse_dsn(endpoint.dsn())["password"] == "from-secret"
    calls = juju.tool_calls("secret-get")
    assert calls and all(call == ["secret-get", uri, "--format=json"] for call in calls)


def test_postgresql_client_unreadable_secret_is_not_available(juju):
    endpoint = client(juju, dict(PROVIDER, **{"secret-user": "secret:missing"}))
    assert endpoint.credentials() is None
    assert not is_flag_set("database.database.available")


def test_postgresql_client_another_database_is_not_ours(juju):
    endpoint = client(juju, dict(PROVIDER, database="other", username="u", password="p"))
    assert endpoint.dsn("livepatch") is None
    assert endpoint.dsn("other") is not None


def test_postgresql_client_ipv6_endpoint_and_uris_fallback(juju):
    endpoint = client(juju, {"database": "livepatch", "endpoints": "[fd00::9]:5432", "username": "u", "password": "p"})
    assert endpoint.credentials()["host"] == "fd00::9"
    endpoint = client(juju, {"database": "livepatch", "uris": "postgresql://u:p@h:5432/livepatch"}, rid="database:4")
    assert endpoint.dsn() == "postgresql://u:p@h:5432/livepatch"


def test_postgresql_client_not_read_from_our_own_app_without_units(juju):
    juju.relate("database:2", {})
    juju.relations["database:2"]["local_app"] = dict(PROVIDER, username="u", password="p")
    endpoint = pg_client.PostgresqlClientRequires("database", ["database:2"])
    endpoint.manage_flags()
    assert endpoint.credentials() is None and not is_flag_set("database.connected")
