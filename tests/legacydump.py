"""The legacy reactive Livepatch charm's config, as `juju config <app>` prints it.

The 46 options, their types and defaults are the team's reference notes
(real-charms-facts section 1: a real `juju config` dump of the legacy charm,
canonical/livepatch-k8s-operator tests/unit/test-data/old_config.yaml); the
values are the defaults but for the three the dump's test had changed
(patchstore=postgres, port=90, url_template). Descriptions are left out: Juju
reads only `value`. A module of its own (like livetest.py) so that tests in any
folder can import it.
"""

import yaml

# name -> (type, legacy default)
LEGACY_OPTIONS = {
    "auth_basic_users": ("string", ""),
    "auth_lp_teams": ("string", ""),
    "auth_sso_location": ("string", "login.ubuntu.com"),
    "auth_sso_public_key": ("string", ""),
    "burst_limit": ("int", 500),
    "concurrency_limit": ("int", 50),
    "dbconn_max": ("int", 15),
    "dbconn_max_lifetime": ("string", "30m"),
    "filestore_path": ("string", "/livepatch/"),
    "http_proxy": ("string", ""),
    "https_proxy": ("string", ""),
    "log_level": ("string", "warn"),
    "nagios_context": ("string", "juju"),
    "nagios_servicegroups": ("string", ""),
    "no_proxy": ("string", ""),
    "patch_cache_on": ("boolean", False),
    "patch_cache_size": ("int", 128),
    "patch_cache_ttl": ("string", "1h"),
    "patch_sync_enabled": ("boolean", True),
    "patchstore": ("string", "file"),
    "port": ("int", 80),
    "psql_dbname": ("string", "livepatch"),
    "psql_roles": ("string", ""),
    "report_cleanup_interval": ("string", "6h"),
    "report_cleanup_row_limit": ("int", 1000),
    "report_retention": ("int", 90),
    "s3_access_key_id": ("string", ""),
    "s3_bucket": ("string", ""),
    "s3_endpoint": ("string", ""),
    "s3_region": ("string", ""),
    "s3_secret_key": ("string", ""),
    "s3_secure": ("boolean", True),
    "swift_apikey": ("string", ""),
    "swift_auth_url": ("string", ""),
    "swift_container_name": ("string", ""),
    "swift_domain_name": ("string", ""),
    "swift_region_name": ("string", ""),
    "swift_tenant_name": ("string", ""),
    "swift_username": ("string", ""),
    "sync_architectures": ("string", ""),
    "sync_flavors": ("string", "generic,lowlatency,aws"),
    "sync_interval": ("string", "1h"),
    "sync_minimum_kernel_version": ("string", ""),
    "sync_send_machine_reports": ("boolean", False),
    "sync_upstream": ("string", "https://livepatch.canonical.com"),
    "url_template": ("string", ""),
}

# What the dump's test had set (source: user).
DUMP_USER_VALUES = {"patchstore": "postgres", "port": 90, "url_template": "template"}


def dump(app="canonical-livepatch-server", **values):
    """The `juju config` output (its shape: application, charm, settings.<key>.{default,
    source, type, value}) with the legacy defaults, DUMP_USER_VALUES and ``values``."""
    chosen = dict(DUMP_USER_VALUES, **values)
    settings = {}
    for name, (kind, default) in LEGACY_OPTIONS.items():
        settings[name] = {
            "default": default,
            "source": "user" if name in chosen else "default",
            "type": kind,
            "value": chosen.get(name, default),
        }
    return {
        "application": app,
        "application-config": {"trust": {"default": False, "source": "default", "type": "bool", "value": False}},
        "charm": "canonical-livepatch-server",
        "settings": settings,
    }


def dump_yaml(**values):
    return yaml.safe_dump(dump(**values), sort_keys=True)


def values(**changes):
    """The option values the dump sets, as a charm's config would hold them."""
    return {name: spec["value"] for name, spec in dump(**changes)["settings"].items()}
