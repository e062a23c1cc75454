"""Rendering: the server config the charm writes is one the server accepts, and the
systemd unit runs the server unprivileged, hardened and restarted on failure."""

import configparser
import os

import bcrypt
import pytest
import yaml

from charms.livepatch import paths, render, validation, website
from charmtest import ROOT, valid_config
from livepatch_app import config as server_config

TEMPLATES = os.path.join(ROOT, "templates")
DSN = "host=10.0.0.9 port=5432 dbname=livepatch user=u password='p w\\'d'"


def rendered(resource_token="", proxies=(), **changes):
    settings = validation.validate(valid_config(**changes))
    context = render.config_context(
        settings,
        database_url=DSN,
        bind_address="10.0.0.5",
        leader=True,
        deployment_id="model-uuid",
        resource_token=resource_token,
        unit_name="livepatch/0",
        proxy_addresses=proxies,
    )
    return render.server_config(context, TEMPLATES)


def load_in_server(tmp_path, text):
    path = tmp_path / "livepatch.yaml"
    path.write_text(text)
    return server_config.load_config(str(path), environ={})


def test_every_rendered_key_is_a_server_option(tmp_path):
    data = yaml.safe_load(rendered())
    assert set(data) <= set(server_config.OPTIONS)
    # every charm option but the charm's own, plus what the charm adds
    charm_options = set(validation.OPTIONS) - validation.CHARM_ONLY
    assert charm_options <= set(data)
    assert not validation.CHARM_ONLY & set(data)
    assert {"database_url", "bind_address", "leader", "deployment_id", "patch_cache_path"} <= set(data)


def test_the_server_loads_the_rendered_config(tmp_path):
    admin = bcrypt.hashpw(b"secret", bcrypt.gensalt(4)).decode()
    text = rendered(
        port=8081,
        auth_basic_users=f"admin:{admin}\nops:{admin}",
        patchstore="file",
        sync_flavors="generic,aws",
        http_proxy="http://proxy.example:3128",
        sync_token="upstream-token",
    )
    loaded = load_in_server(tmp_path, text)
    assert loaded.port == 8081
    assert loaded.bind_address == "10.0.0.5"
    assert loaded.database_url == DSN
    assert loaded.url_template == "http://lp.example/patches/{filename}"
    assert loaded.leader is True
    assert loaded.deployment_id == "model-uuid"
    assert set(loaded.auth_basic_users) == {"admin", "ops"}
    assert loaded.store_type == "filesystem"
    assert loaded.sync_flavors == ["generic", "aws"]
    assert loaded.sync_token == "upstream-token"
    assert loaded.patch_sync_enabled is True
    assert loaded.patch_cache_path == paths.CACHE_DIR


def test_trusted_proxies_are_the_option_plus_the_related_proxies(tmp_path):
    assert load_in_server(tmp_path, rendered()).trusted_proxies == ()
    text = rendered(proxies=["10.20.0.1", "10.20.0.2", "10.20.0.1"], trusted_proxies="192.168.0.0/16")
    loaded = load_in_server(tmp_path, text)
    assert [str(n) for n in loaded.trusted_proxies] == ["192.168.0.0/16", "10.20.0.1/32", "10.20.0.2/32"]


def test_drain_timeout_reaches_the_server(tmp_path):
    assert load_in_server(tmp_path, rendered()).shutdown_drain_timeout == 30
    assert load_in_server(tmp_path, rendered(shutdown_drain_timeout="2m")).shutdown_drain_timeout == 120


def test_console_stale_after_reaches_the_server(tmp_path):
    assert load_in_server(tmp_path, rendered()).console_stale_after == 48 * 3600
    assert load_in_server(tmp_path, rendered(console_stale_after="7d")).console_stale_after == 7 * 86400


@pytest.mark.parametrize("option, value", [
    ("trusted_proxies", "10.0.0.1"), ("trusted_proxies", "10.0.0.0/8, fd00::/64"), ("trusted_proxies", ""),
    ("trusted_proxies", "10.0.0.1/24"), ("trusted_proxies", "10.0.0.256"), ("trusted_proxies", "*"),
    ("trusted_proxies", "haproxy.example"), ("trusted_proxies", "::1/129"),
    ("shutdown_drain_timeout", "0s"), ("shutdown_drain_timeout", "1h"), ("shutdown_drain_timeout", "1h1s"),
    ("shutdown_drain_timeout", "45"), ("shutdown_drain_timeout", "1d"), ("shutdown_drain_timeout", "90s"),
    ("console_stale_after", "48h"), ("console_stale_after", "1m"), ("console_stale_after", "59s"),
    ("console_stale_after", "365d"), ("console_stale_after", "366d"), ("console_stale_after", "0s"),
    ("console_stale_after", "2 days"), ("console_stale_after", ""),
])
def test_charm_and_server_accept_and_refuse_the_same_values(option, value):
    """The charm's validation mirrors the server's config rules (it cannot import them)."""
    try:
        validation.validate(valid_config(**{option: value}))
        charm_ok = True
    except validation.InvalidConfig:
        charm_ok = False
    try:
        server_config.load_config(None, environ={}, overrides={option: value})
        server_ok = True
    except server_config.ConfigError:
        server_ok = False
    assert charm_ok == server_ok, (option, value, charm_ok, server_ok)


def test_sync_token_option_wins_over_the_resource_token(tmp_path):
    assert load_in_server(tmp_path, rendered(resource_token="from-leader")).sync_token == "from-leader"
    text = rendered(resource_token="from-leader", sync_token="from-config")
    assert load_in_server(tmp_path, text).sync_token == "from-config"


def test_awkward_strings_survive_yaml(tmp_path):
    template = "http://lp.example/p?f={filename}&x=\"q\"#<a>:'b'"
    loaded = load_in_server(tmp_path, rendered(url_template=template))
    assert loaded.url_template == template


def unit_file(**changes):
    settings = validation.validate(valid_config(**changes))
    context = render.unit_context(settings, python="/var/lib/juju/agents/unit-livepatch-0/.venv/bin/python",
                                  unit_name="livepatch/0")
    text = render.systemd_unit(context, TEMPLATES)
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string(text)
    return text, parser


def test_unit_runs_the_server_unprivileged_and_hardened():
    text, unit = unit_file()
    service = unit["Service"]
    assert service["ExecStart"] == (
        "/var/lib/juju/agents/unit-livepatch-0/.venv/bin/python -m livepatch_app serve "
        "--config /etc/livepatch/livepatch.yaml"
    )
    assert service["User"] == "livepatch" and service["Group"] == "livepatch"
    assert service["Restart"] == "on-failure"
    for option, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert service[option] == value, option
    assert "AmbientCapabilities" not in service
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    assert "ReadWritePaths" not in service


def test_stop_waits_for_the_drain():
    """systemd's stop sends SIGTERM and waits past the server's drain before SIGKILL."""
    _, unit = unit_file()
    assert unit["Service"]["KillSignal"] == "SIGTERM"
    assert unit["Service"]["TimeoutStopSec"] == str(30 + render.STOP_MARGIN)
    _, unit = unit_file(shutdown_drain_timeout="5m")
    assert unit["Service"]["TimeoutStopSec"] == str(300 + render.STOP_MARGIN)
    assert render.STOP_MARGIN >= 10


def test_privileged_port_gets_exactly_the_bind_capability():
    _, unit = unit_file(port=80)
    assert unit["Service"]["AmbientCapabilities"] == "CAP_NET_BIND_SERVICE"
    assert unit["Service"]["CapabilityBoundingSet"] == "CAP_NET_BIND_SERVICE"


def test_filesystem_store_outside_the_state_dir_is_writable():
    _, unit = unit_file(patchstore="filesystem", filestore_path="/srv/patches")
    assert unit["Service"]["ReadWritePaths"] == "-/srv/patches"
    _, unit = unit_file(patchstore="filesystem", filestore_path="/var/lib/livepatch/patches")
    assert "ReadWritePaths" not in unit["Service"]


def test_haproxy_services_for_one_unit():
    """The `services` a unit publishes on website (real-charms-facts §6: an HTTP check
    needs `option httpchk` among the service options and `check` in the server's)."""
    assert website.haproxy_services("livepatch/12", "10.0.0.5", "8080") == [{
        "service_name": "livepatch",
        "service_host": "0.0.0.0",
        "service_port": 80,
        "service_options": ["mode http", "balance leastconn", "option httpchk GET /debug/status",
                            "option forwardfor", "option redispatch", "retries 3"],
        "servers": [["livepatch-12", "10.0.0.5", 8080, "check inter 2000 rise 2 fall 5"]],
    }]


@pytest.mark.parametrize("bundle", ["bundle.yaml", "bundle-postgresql-db.yaml"])
def test_bundles_ask_haproxy_for_what_the_units_publish(bundle):
    """haproxy's own `services` option wins over what the units publish, so the bundles'
    livepatch service must carry the same options (health check, X-Forwarded-For)."""
    with open(os.path.join(ROOT, bundle)) as handle:
        haproxy = yaml.safe_load(handle)["applications"]["haproxy"]
    services = yaml.safe_load(haproxy["options"]["services"])
    livepatch = [s for s in services if s["service_name"] == website.SERVICE_NAME]
    assert livepatch and livepatch[0]["service_options"] == list(website.SERVICE_OPTIONS)
    assert livepatch[0]["server_options"] == website.SERVER_OPTIONS
