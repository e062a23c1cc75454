"""The interface layers: flags, keys read and written, both sides of each."""

import psycopg2.extensions
import pytest
from charms.reactive import is_flag_set

from charmtest import flush, load_interface

pgsql_requires = load_interface("pgsql", "requires")
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
REQUEST = {"database": "livepatch", "roles": "", "extensions": ""}


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


def test_pgsql_roles_must_be_echoed(juju):
    request = dict(REQUEST, roles="audit,reporting")
    assert db_endpoint(juju, SERVER, request=request).master is None
    endpoint = db_endpoint(juju, dict(SERVER, roles="reporting,audit"), request=request)
    assert endpoint.master == SERVER["master"]


def test_pgsql_set_database_publishes_raw_keys(juju):
    juju.relate("db:1", {"postgresql/0": {}})
    endpoint = pgsql_requires.PgsqlRequires("db", ["db:1"])
    endpoint.set_database("livepatch", roles=["reporting", "audit", "audit"])
    flush(endpoint)
    assert juju.published("db:1") == {"database": "livepatch", "roles": "audit,reporting"}


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
