"""Config validation: every bad value docs/charm-README.md implies gets a clear, secret-free message."""

import bcrypt
import pytest

from charms.livepatch import validation
from charmtest import defaults, valid_config

# htpasswd -B's form ($2y$) of a cost-4 bcrypt hash of "secret"; a literal, not a fresh salt
# per import: the parametrized test ids below contain it, and pytest-xdist's workers must
# all collect the same ids.
HASH = "$2y$04$qZMHUGFvymTwvc/IrajTS.uv84LEyHIJwNM4.YRiQD/5OVHspwyaC"


def problem(**changes):
    with pytest.raises(validation.InvalidConfig) as caught:
        validation.validate(valid_config(**changes))
    return caught.value


def test_every_option_in_config_yaml_is_validated_and_vice_versa():
    assert set(validation.OPTIONS) == set(defaults())


def test_defaults_plus_url_template_are_valid():
    settings = validation.validate(valid_config())
    assert settings["port"] == 8080
    assert settings["patch_sync_enabled"] is True
    assert settings["patchstore"] == "postgres"
    assert settings["sync_upstream"] == "https://livepatch.canonical.com"
    assert settings["contract_server_url"] == "https://contracts.canonical.com"


@pytest.mark.parametrize("value", ["", None, "   ", "http://lp.example/patches/", "http://lp.example/{file}"])
def test_missing_url_template_blocks_with_its_own_message(value):
    exc = problem(url_template=value)
    assert exc.status_message == "url_template not set"


def test_url_template_message_wins_over_other_problems():
    exc = problem(url_template="", port=0)
    assert exc.status_message == "url_template not set"
    assert any("port" in p for p in exc.problems)


def test_url_template_must_be_http():
    exc = problem(url_template="ftp://lp.example/{filename}")
    assert exc.status_message == "url_template not set"
    assert "http" in exc.problems[0]


@pytest.mark.parametrize(
    "option, value, expected",
    [
        ("port", 0, "port must be between 1 and 65535, not 0"),
        ("port", 65536, "port must be between 1 and 65535, not 65536"),
        ("port", "http", "port must be a whole number"),
        ("port", True, "port must be a whole number"),
        ("listen_on_all_addresses", "everywhere", "listen_on_all_addresses must be true or false"),
        ("log_level", "verbose", "log_level must be one of debug, info, warn, warning, error"),
        ("concurrency_limit", 0, "concurrency_limit must be between 1 and 10000"),
        ("burst_limit", -1, "burst_limit must be between 0 and 100000"),
        ("dbconn_max", 0, "dbconn_max must be between 1 and 1000"),
        ("dbconn_max_lifetime", "30", "dbconn_max_lifetime must be a duration like 30s, 10m, 1h or 1d"),
        ("dbconn_max_lifetime", "0s", "dbconn_max_lifetime must be longer than 0s"),
        ("dbconn_max_lifetime", "1 hour", "dbconn_max_lifetime must be a duration"),
        ("psql_dbname", "", "psql_dbname must be a database name"),
        ("psql_dbname", "live patch", "psql_dbname must be a database name"),
        ("psql_dbname", "x" * 64, "psql_dbname must be a database name"),
        ("psql_roles", "ok,not ok", "psql_roles 'not ok' is not a valid role name"),
        ("patchstore", "ceph", "patchstore must be one of postgres, filesystem, not 'ceph'"),
        ("filestore_path", "patches", "filestore_path must be an absolute path"),
        ("filestore_path", "/srv/../etc", "filestore_path must be an absolute path"),
        ("patch_cache_on", "maybe", "patch_cache_on must be true or false"),
        ("patch_cache_size", 0, "patch_cache_size must be between 1 and 1048576"),
        ("patch_cache_ttl", "1y", "patch_cache_ttl must be a duration"),
        ("redirect_downloads", "sometimes", "redirect_downloads must be true or false"),
        ("patch_sync_enabled", "perhaps", "patch_sync_enabled must be true or false"),
        ("sync_upstream", "livepatch.example", "sync_upstream must be an http:// or https:// URL"),
        ("sync_token", "two words", "sync_token must be a single token without spaces"),
        ("sync_interval", "hourly", "sync_interval must be a duration"),
        ("sync_flavors", "generic,Low Latency", "sync_flavors 'Low Latency' is not a valid kernel flavour"),
        ("sync_architectures", "amd64,x86-64", "sync_architectures 'x86-64' is not a valid architecture"),
        ("sync_minimum_kernel_version", "5.x", "sync_minimum_kernel_version must be a kernel version"),
        ("sync_send_machine_reports", "often", "sync_send_machine_reports must be true or false"),
        ("http_proxy", "proxy:3128", "http_proxy must be an http:// or https:// URL"),
        ("https_proxy", "socks5://proxy", "https_proxy must be an http:// or https:// URL"),
        ("no_proxy", "localhost, two words", "no_proxy 'two words' is not a host, domain or network"),
        ("contract_server_url", "", "contract_server_url is not set"),
        ("contract_server_url", "contracts", "contract_server_url must be an http:// or https:// URL"),
        ("report_retention", 0, "report_retention must be between 1 and 36500"),
        ("report_cleanup_interval", "6", "report_cleanup_interval must be a duration"),
        ("report_cleanup_row_limit", 0, "report_cleanup_row_limit must be between 1 and 10000000"),
        ("blocklist_cache_refresh", "", "blocklist_cache_refresh must be a duration"),
        ("trusted_proxies", "10.0.0.1,haproxy", "trusted_proxies 'haproxy' is not an IP address or a network"),
        ("trusted_proxies", "10.0.0.1/24", "trusted_proxies '10.0.0.1/24' is not an IP address or a network"),
        ("shutdown_drain_timeout", "30", "shutdown_drain_timeout must be a duration"),
        ("shutdown_drain_timeout", "2h", "shutdown_drain_timeout must be between 0s and 1h, not '2h'"),
        ("console_stale_after", "2 days", "console_stale_after must be a duration"),
        ("console_stale_after", "30s", "console_stale_after must be between 1m and 365d, not '30s'"),
        ("console_stale_after", "400d", "console_stale_after must be between 1m and 365d, not '400d'"),
    ],
)
def test_bad_values(option, value, expected):
    exc = problem(**{option: value})
    assert exc.status_message.startswith(f"invalid config: {expected}"), exc.status_message


def test_several_problems_are_counted():
    exc = problem(port=0, log_level="loud", dbconn_max=0)
    assert exc.status_message.endswith("(and 2 more)")
    assert len(exc.problems) == 3


def test_sync_upstream_needed_when_sync_is_on():
    assert "sync_upstream is not set" in problem(sync_upstream="").status_message
    validation.validate(valid_config(sync_upstream="", patch_sync_enabled=False))


@pytest.mark.parametrize("value", ["30s", "10m", "1h", "2h30m", "1d", "1d12h"])
def test_durations(value):
    assert validation.validate(valid_config(sync_interval=value))["sync_interval"] == value


def test_listen_on_all_addresses_is_off_by_default():
    assert validation.validate(valid_config())["listen_on_all_addresses"] is False
    assert validation.validate(valid_config(listen_on_all_addresses=True))["listen_on_all_addresses"] is True


def test_juju_strings_for_numbers_and_booleans_are_accepted():
    settings = validation.validate(valid_config(port="8081", patch_cache_on="true"))
    assert settings["port"] == 8081 and settings["patch_cache_on"] is True


def test_auth_users_accepts_htpasswd_output():
    other = bcrypt.hashpw(b"other", bcrypt.gensalt(4)).decode()
    users = f"admin:{HASH}\nops:{other}, third:{HASH}"
    assert validation.validate(valid_config(auth_basic_users=users))["auth_basic_users"] == (
        f"admin:{HASH}\nops:{other}\nthird:{HASH}"
    )


@pytest.mark.parametrize(
    "value, expected",
    [
        ("admin", "entry 1 is not user:bcrypt-hash"),
        (f"admin:{HASH},bad user:{HASH}", "entry 2 is not user:bcrypt-hash"),
        ("admin:plaintext-password", "entry 1 (admin) is not a bcrypt hash"),
        (f"admin:{HASH[:-1]}", "entry 1 (admin) is not a bcrypt hash"),
        (f"admin:{HASH.replace('$04$', '$99$')}", "entry 1 (admin) has a bcrypt cost outside 4-31"),
        (f"admin:{HASH}\nadmin:{HASH}", "user admin appears twice"),
    ],
)
def test_bad_auth_users_never_show_the_hash(value, expected):
    exc = problem(auth_basic_users=value)
    assert exc.status_message.startswith(f"invalid config: auth_basic_users {expected}")
    assert HASH[7:] not in exc.status_message and "plaintext-password" not in exc.status_message
    assert HASH[7:] not in str(exc)


def test_secrets_never_in_messages():
    exc = problem(http_proxy="proxy-user:pa55word@proxy", sync_token="tok en")
    assert "pa55word" not in str(exc) and "tok en" not in str(exc)


def test_validate_options_checks_only_what_is_asked():
    raw = valid_config(url_template="", port=0, contract_server_url="https://c.example/")
    assert validation.validate_options(raw, ["contract_server_url"]) == {
        "contract_server_url": "https://c.example"
    }
    with pytest.raises(validation.InvalidConfig):
        validation.validate_options(raw, ["port"])


def test_trusted_proxies_and_drain_timeout_defaults():
    settings = validation.validate(valid_config())
    assert settings["trusted_proxies"] == ""  # trust no one; the charm adds the related haproxy units
    assert settings["shutdown_drain_timeout"] == "30s"
    settings = validation.validate(valid_config(trusted_proxies=" 10.0.0.0/8 , fd00::1 ", shutdown_drain_timeout="0s"))
    assert settings["trusted_proxies"] == "10.0.0.0/8,fd00::1"
    assert settings["shutdown_drain_timeout"] == "0s"
