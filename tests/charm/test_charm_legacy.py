"""The legacy reactive charm's options (real-charms-facts section 1; tests/legacydump.py):
each exists with the legacy type and works, or is accepted with no effect and said so
(a log line per change, a note in the active status); s3 and swift block and change
nothing; proxies fall back to the model's; contracts_ca trusts an on-site CA."""

import os
import subprocess
import sys

import pytest
import yaml

from charms.livepatch import contracts, status, validation
from charmtest import ROOT, defaults, pro_attach, valid_config
from fakecontracts import FakeContracts

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
from legacydump import LEGACY_OPTIONS, values  # noqa: E402

BIND, INGRESS = "127.0.0.2", "10.20.30.40"

# Where our default differs from the legacy one on purpose; docs/legacy-options.md says why.
DIFFERENT_DEFAULTS = {"port", "log_level", "filestore_path", "patch_cache_on", "patchstore"}


def config_yaml():
    with open(os.path.join(ROOT, "config.yaml")) as handle:
        return yaml.safe_load(handle)["options"]


def legacy_doc():
    with open(os.path.join(ROOT, "docs", "legacy-options.md")) as handle:
        return handle.read()


def test_every_legacy_option_exists_with_the_legacy_type():
    options = config_yaml()
    assert set(LEGACY_OPTIONS) == set(validation.LEGACY_DUMP_OPTIONS)
    assert len(LEGACY_OPTIONS) == 46
    for name, (kind, default) in LEGACY_OPTIONS.items():
        assert name in options, name
        assert options[name]["type"] == kind, name
        if name not in DIFFERENT_DEFAULTS:
            assert options[name]["default"] == default, name
    for name in validation.LEGACY_MAPPER_OPTIONS:
        assert name in options, name


def test_the_legacy_doc_lists_every_legacy_option_and_every_different_default():
    doc = legacy_doc()
    for name in validation.LEGACY_DUMP_OPTIONS + validation.LEGACY_MAPPER_OPTIONS:
        assert f"`{name}`" in doc, name
    section = doc.split("## Different defaults", 1)[1].split("\n## ", 1)[0]
    for name in DIFFERENT_DEFAULTS:
        assert f"`{name}`" in section, name


def test_ignored_options_defaults_are_config_yaml_defaults():
    config_defaults = defaults()
    for name, (default, why) in validation.IGNORED.items():
        assert config_defaults[name] == default, name
        assert why


def test_the_legacy_dump_is_valid_and_ignores_nothing():
    raw = dict(defaults(), **values(url_template="http://lp.example/v1/patches/{filename}"))
    settings = validation.validate(raw)
    assert settings["port"] == 90
    assert settings["patchstore"] == "postgres"
    assert settings["filestore_path"] == "/livepatch"
    assert settings["log_level"] == "warn"
    assert validation.ignored_options(raw) == {}


def test_the_verbatim_dump_fails_only_on_its_placeholder_url_template():
    # The dump's url_template is its unit test's placeholder "template", not a URL.
    with pytest.raises(validation.InvalidConfig) as caught:
        validation.validate(dict(defaults(), **values()))
    assert caught.value.problems == ["url_template must contain {filename}"]


def test_file_is_the_filesystem_store():
    assert validation.validate(valid_config(patchstore="file"))["patchstore"] == "file"
    settings = validation.validate(valid_config(filebacked=True))
    assert settings["patchstore"] == "filesystem"
    settings = validation.validate(valid_config(storage_path="/srv/patches/"))
    assert settings["filestore_path"] == "/srv/patches"


def test_storage_path_and_filestore_path_must_agree():
    with pytest.raises(validation.InvalidConfig) as caught:
        validation.validate(valid_config(storage_path="/srv/a", filestore_path="/srv/b"))
    assert "storage_path and filestore_path name different folders" in caught.value.status_message
    assert validation.validate(valid_config(storage_path="/srv/a", filestore_path="/srv/a"))
    with pytest.raises(validation.InvalidConfig):
        validation.validate(valid_config(storage_path="relative/path"))


@pytest.mark.parametrize("store", ["s3", "swift", "S3"])
def test_object_stores_are_unsupported(store):
    with pytest.raises(validation.InvalidConfig) as caught:
        validation.validate(valid_config(patchstore=store, s3_bucket="patches"))
    assert caught.value.unsupported_store == store.lower()
    facts = status.Facts(config_problem=caught.value.status_message, unsupported_store=caught.value.unsupported_store)
    state, message = status.assess(facts)
    assert state == "blocked"
    assert message.startswith(f"patchstore {store.lower()} is not supported: set patchstore=postgres")


def test_ignored_options_never_show_values():
    raw = valid_config(s3_secret_key="very-secret", auth_lp_teams="~admins", s3_secure=False, sync_tier="edge")
    ignored = validation.ignored_options(raw)
    assert sorted(ignored) == ["auth_lp_teams", "s3_secret_key", "s3_secure"]
    assert "very-secret" not in repr(ignored)
    # Juju hands strings for numbers and booleans on the command line
    assert validation.ignored_options(valid_config(s3_secure="true", profiler_sample_rate="0")) == {}


# --- whole hooks -------------------------------------------------------------------------

PROVIDER = {"database": "livepatch", "endpoints": "10.1.1.9:5432", "version": "14.12", "tls": "False",
            "username": "relation-3", "password": "pw"}


@pytest.fixture
def lp(juju, machine):
    """A configured leader unit whose service (stand-in) answers on the website bind address,
    with a resource token from get-resource-token (as in test_charm_hooks)."""
    juju.bind("website", bind=BIND, ingress=INGRESS)
    juju.config.update(url_template="http://lp.example/v1/patches/{filename}", port=machine.serve(BIND))
    juju.leader_data["resource-token"] = "resource-token-from-get-resource-token"
    return juju


def ignored_lines(logs):
    return [line for line in logs if line.startswith("legacy option ")]


def serving(lp):
    lp.relate("database:3", {"postgresql/0": {}}, app_data=PROVIDER)
    lp.run_hook("database-relation-changed", "database:3", "postgresql/0")
    return lp.status


def test_ignored_options_are_logged_once_per_change_and_noted_in_status(lp, machine, logs):
    lp.config.update(auth_lp_teams="~lp-admins", s3_bucket="patches")
    port = lp.config["port"]
    assert serving(lp) == ("active", f"serving patches on :{port} (leader), 2 legacy options ignored: "
                                     "see juju debug-log")
    assert ignored_lines(logs) == [
        "legacy option auth_lp_teams is set but has no effect here: there is no SSO login here: admins are "
        "auth_basic_users",
        "legacy option s3_bucket is set but has no effect here: there is no s3 store here "
        "(patchstore: postgres or filesystem)",
    ]
    lp.run_hook("update-status")
    assert len(ignored_lines(logs)) == 2  # nothing changed: nothing logged again
    lp.config["s3_bucket"] = "other"
    lp.run_hook("config-changed")
    assert ignored_lines(logs)[2:] == [ignored_lines(logs)[1]]
    lp.config.update(auth_lp_teams="", s3_bucket="")
    lp.run_hook("config-changed")
    assert lp.status == ("active", f"serving patches on :{port} (leader)")


def test_s3_blocks_and_the_running_service_keeps_its_config(lp, machine, logs):
    assert serving(lp)[0] == "active"
    before = machine.rendered_config()
    lp.config.update(patchstore="s3", s3_bucket="patches", s3_secret_key="key")
    lp.run_hook("config-changed")
    assert lp.status == ("blocked", "patchstore s3 is not supported: set patchstore=postgres (or filesystem); "
                                    "patches return by sync or the import folder")
    assert machine.rendered_config() == before
    lp.config.update(patchstore="postgres")
    lp.run_hook("config-changed")
    assert lp.status[0] == "active"


def test_sync_token_option_is_the_sync_token(lp, machine):
    lp.config["sync_token"] = "token-from-the-legacy-config"
    serving(lp)
    assert machine.rendered_config()["sync_token"] == "token-from-the-legacy-config"


def test_sync_uses_the_model_proxies_when_the_charm_has_none(lp, machine, monkeypatch):
    monkeypatch.setenv("JUJU_CHARM_HTTP_PROXY", "http://model-proxy:3128")
    monkeypatch.setenv("JUJU_CHARM_HTTPS_PROXY", "http://model-proxy:3129")
    monkeypatch.setenv("JUJU_CHARM_NO_PROXY", "10.0.0.0/8,.internal")
    serving(lp)
    rendered = machine.rendered_config()
    assert (rendered["http_proxy"], rendered["https_proxy"], rendered["no_proxy"]) == (
        "http://model-proxy:3128", "http://model-proxy:3129", "10.0.0.0/8,.internal")
    # the charm's own win, all three together (as for contracts calls)
    lp.config["https_proxy"] = "http://site-proxy:8080"
    lp.run_hook("config-changed")
    rendered = machine.rendered_config()
    assert (rendered["http_proxy"], rendered["https_proxy"], rendered["no_proxy"]) == (
        "", "http://site-proxy:8080", "")


# --- contracts_ca ------------------------------------------------------------------------

def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def private_ca(tmp_path):
    """A CA of its own and a certificate it signed for 127.0.0.1 -> (ca pem text, cert file, key file)."""
    folder = str(tmp_path)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=site CA",
             cwd=folder)
    _openssl("req", *ec, "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1", cwd=folder)
    with open(os.path.join(folder, "ext"), "w") as handle:
        handle.write("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "srv.pem", "-days", "2", "-extfile", "ext", cwd=folder)
    with open(os.path.join(folder, "ca.pem")) as handle:
        return handle.read(), os.path.join(folder, "srv.pem"), os.path.join(folder, "srv.key")


def test_contracts_ca_must_be_pem_certificates():
    with pytest.raises(validation.InvalidConfig) as caught:
        validation.validate(valid_config(contracts_ca="not a certificate"))
    assert "contracts_ca must be PEM certificates" in caught.value.status_message
    with pytest.raises(validation.InvalidConfig):
        validation.validate(valid_config(contracts_ca="-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"))


def test_contracts_ca_trusts_an_on_site_contracts_server(juju, private_ca, tmp_path, monkeypatch):
    ca, cert, key = private_ca
    assert validation.validate(valid_config(contracts_ca=ca))["contracts_ca"].strip() == ca.strip()
    with FakeContracts(tls=(cert, key)) as server:
        token = server.add_contract_token("contract-site").token
        with pytest.raises(contracts.ContractError) as caught:
            contracts.get_resource_token(token, server.url)
        assert "cannot reach the contract server" in str(caught.value)
        assert contracts.get_resource_token(token, server.url, ca=ca)
        # the action: this machine attached to the on-site server, contracts_ca set
        from charms.livepatch import pro

        root = tmp_path / "pro-client"
        monkeypatch.setattr(pro, "MACHINE_TOKEN_FILE", str(root / "var/lib/ubuntu-advantage/private/machine-token.json"))
        monkeypatch.setattr(pro, "CLIENT_CONFIG_FILE", str(root / "etc/ubuntu-advantage/uaclient.conf"))
        with open(tmp_path / "site-ca.pem", "w") as handle:
            handle.write(ca)
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "site-ca.pem"))  # the Pro client trusts it
        pro_attach(str(root), server, token, contract_url=server.url)
        monkeypatch.delenv("SSL_CERT_FILE")
        juju.run_action("get-resource-token")
        assert juju.failure and "cannot reach the contract server" in juju.failure
        juju.config["contracts_ca"] = ca
        juju.run_action("get-resource-token")
        assert juju.failure is None, juju.failure
        assert juju.results["source"] == "pro-attachment"
