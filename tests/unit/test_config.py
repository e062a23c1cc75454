"""Config loading: file, environment overrides, one clear error per bad key."""

import pytest

from livepatch_app.config import ConfigError, load_config, parse_duration

HASH = "$2y$10$" + "a" * 53


def test_defaults_and_env_override(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("port: 9000\nurl_template: 'http://x/patches/{filename}'\nsync_flavors: generic,aws\n")
    config = load_config(str(path), environ={"LIVEPATCH_PORT": "9100", "LIVEPATCH_SYNC_TOKEN": "tok"})
    assert config.port == 9100
    assert config.sync_token == "tok"
    assert config.sync_flavors == ["generic", "aws"]
    assert config.sync_interval == 3600
    assert config.shutdown_drain_timeout == 30
    assert load_config(None, environ={"LIVEPATCH_SHUTDOWN_DRAIN_TIMEOUT": "0s"}).shutdown_drain_timeout == 0
    assert config.store_type == "postgres"
    assert load_config(None, environ={"LIVEPATCH_PATCHSTORE": "file"}).store_type == "filesystem"


@pytest.mark.parametrize("key,value,fragment", [
    ("port", "0", "invalid port"),
    ("port", "http", "invalid port"),
    ("url_template", "http://x/patches/", "invalid url_template"),
    ("log_level", "loud", "invalid log_level"),
    ("patchstore", "swift", "invalid patchstore"),
    ("sync_interval", "often", "invalid sync_interval"),
    ("auth_basic_users", "admin:plaintext", "invalid auth_basic_users"),
    ("auth_basic_users", "nocolon", "invalid auth_basic_users"),
    ("concurrency_limit", "0", "invalid concurrency_limit"),
    ("patch_sync_enabled", "maybe", "invalid patch_sync_enabled"),
    ("sync_upstream", "ftp://x", "invalid sync_upstream"),
    ("sync_minimum_kernel_version", "five", "invalid sync_minimum_kernel_version"),
    ("shutdown_drain_timeout", "30", "invalid shutdown_drain_timeout"),
    ("shutdown_drain_timeout", "2h", "invalid shutdown_drain_timeout: '2h' is not between 0s and 3600s"),
    ("trusted_proxies", "haproxy", "invalid trusted_proxies"),
])
def test_bad_values_name_the_key(key, value, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(None, environ={"LIVEPATCH_" + key.upper(): value})
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_password_hash_never_in_error():
    with pytest.raises(ConfigError) as err:
        load_config(None, environ={"LIVEPATCH_AUTH_BASIC_USERS": f"a:{HASH},a:{HASH}"})
    assert HASH not in str(err.value)


def test_htpasswd_format_accepted():
    users = load_config(None, environ={"LIVEPATCH_AUTH_BASIC_USERS": f"admin:{HASH}\n\nops:{HASH}"}).auth_basic_users
    assert set(users) == {"admin", "ops"}


def test_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("port: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(bad), environ={})
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("prot: 80\n")
    with pytest.raises(ConfigError, match="unknown option 'prot'"):
        load_config(str(unknown), environ={})
    with pytest.raises(ConfigError, match="No such file"):
        load_config(str(tmp_path / "missing.yaml"), environ={})


def test_durations():
    assert parse_duration("90s") == 90
    assert parse_duration("2h30m") == 9000
    assert parse_duration("1d") == 86400
    for bad in ("", "h", "10", "1x"):
        with pytest.raises(ValueError):
            parse_duration(bad)
