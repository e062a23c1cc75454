"""Charm config validation: one pure function from Juju's config to the server's settings.

The charm checks everything itself (it does not import livepatch_app), so that
a bad value blocks the unit with a clear status instead of crash-looping the
service. Messages name the option and the problem; for secrets (admin hashes,
tokens, proxy URLs that may carry credentials) they never repeat the value.
"""

import ipaddress
import re
import ssl
from urllib.parse import urlsplit

URL_TEMPLATE_MISSING = "url_template not set"
DRAIN_MAX_SECONDS = 3600  # shutdown_drain_timeout: 0s to 1h, as the server accepts

_DURATION_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_BCRYPT_RE = re.compile(r"^\$2[abxy]\$(\d\d)\$[./A-Za-z0-9]{53}$")
_USER_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
_PG_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,62}$")
_FLAVOUR_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_ARCH_RE = re.compile(r"^[a-z0-9_]+$")
_KERNEL_RE = re.compile(r"^\d+(\.\d+){0,2}$")
_HOST_RE = re.compile(r"^[A-Za-z0-9.*:\[\]/_-]+$")


class InvalidConfig(Exception):
    """The config cannot be served. ``problems`` lists one sentence per option."""

    def __init__(self, problems, url_template_missing=False, unsupported_store=None):
        super().__init__("; ".join(problems))
        self.problems = list(problems)
        self.url_template_missing = url_template_missing
        self.unsupported_store = unsupported_store  # s3 or swift: status.UNSUPPORTED_STORE

    @property
    def status_message(self):
        if self.url_template_missing:
            return URL_TEMPLATE_MISSING
        more = len(self.problems) - 1
        suffix = f" (and {more} more)" if more else ""
        return f"invalid config: {self.problems[0]}{suffix}"


class _Problem(ValueError):
    pass


class _UnsupportedStore(_Problem):
    def __init__(self, store):
        super().__init__(f"{store} is not supported")
        self.store = store


STORES = ("postgres", "filesystem")
LEGACY_STORES = ("s3", "swift")  # the legacy charm's object stores (real-charms-facts section 1)
FILESTORE_DEFAULT = "/var/lib/livepatch/patches"  # config.yaml's filestore_path


# --- converters: value -> normalised value, or _Problem(sentence without the option name)


def _text(value):
    return "" if value is None else str(value).strip()


def _integer(low, high):
    def convert(value):
        if isinstance(value, bool) or value is None:
            raise _Problem("must be a whole number")
        try:
            number = int(str(value).strip())
        except ValueError:
            raise _Problem(f"must be a whole number, not {str(value)[:40]!r}") from None
        if not low <= number <= high:
            raise _Problem(f"must be between {low} and {high}, not {number}")
        return number

    return convert


def _boolean(value):
    if isinstance(value, bool):
        return value
    text = _text(value).lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise _Problem("must be true or false")


def _choice(*choices):
    def convert(value):
        text = _text(value).lower()
        if text not in choices:
            raise _Problem(f"must be one of {', '.join(choices)}, not {_text(value)[:40]!r}")
        return text

    return convert


def parse_duration(text):
    """'1h', '30m', '2h30m', '90s', '1d' -> seconds; the grammar the server accepts."""
    match = _DURATION_RE.match(text)
    if not text or not match or not any(match.groups()):
        raise _Problem(f"must be a duration like 30s, 10m, 1h or 1d, not {text[:40]!r}")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def _duration(value):
    text = _text(value)
    if parse_duration(text) <= 0:
        raise _Problem("must be longer than 0s")
    return text


def _drain_timeout(value):
    text = _text(value)
    if not 0 <= parse_duration(text) <= DRAIN_MAX_SECONDS:
        raise _Problem(f"must be between 0s and 1h, not {text[:40]!r}")
    return text


def _duration_between(low, high, low_text, high_text):
    def convert(value):
        text = _text(value)
        if not low <= parse_duration(text) <= high:
            raise _Problem(f"must be between {low_text} and {high_text}, not {text[:40]!r}")
        return text

    return convert


def _networks(value):
    """Comma-separated IP addresses or CIDR networks (host bits unset), as the server's
    trusted_proxies accepts them."""
    items = [item.strip() for item in _text(value).split(",") if item.strip()]
    for item in items:
        try:
            ipaddress.ip_network(item, strict=True)
        except ValueError:
            raise _Problem(f"{item[:60]!r} is not an IP address or a network like 10.0.0.0/24") from None
    return ",".join(items)


def _http_url(required, secret=False):
    def convert(value):
        text = _text(value)
        if not text:
            if required:
                raise _Problem("is not set")
            return ""
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in text):
            shown = "" if secret else f", not {text[:60]!r}"
            raise _Problem(f"must be an http:// or https:// URL{shown}")
        return text.rstrip("/")

    return convert


def _names(pattern, what):
    def convert(value):
        items = [item.strip() for item in _text(value).split(",") if item.strip()]
        for item in items:
            if not pattern.match(item):
                raise _Problem(f"{item[:40]!r} is not a valid {what}")
        return ",".join(items)

    return convert


def _pg_name(value):
    text = _text(value)
    if not _PG_NAME_RE.match(text):
        raise _Problem(f"must be a database name (letters, digits, _ or -; at most 63), not {text[:40]!r}")
    return text


def _absolute_path(value):
    text = _text(value)
    if not text.startswith("/") or "/../" in text + "/" or "\n" in text:
        raise _Problem(f"must be an absolute path, not {text[:60]!r}")
    return text.rstrip("/") or "/"


def _kernel_version(value):
    text = _text(value)
    if text and not _KERNEL_RE.match(text):
        raise _Problem(f"must be a kernel version like 5.4 or 5.15.0, not {text[:40]!r}")
    return text


def _token(value):
    text = _text(value)
    if any(c.isspace() for c in text):
        raise _Problem("must be a single token without spaces")
    return text


def _no_proxy(value):
    items = [item.strip() for item in _text(value).split(",") if item.strip()]
    for item in items:
        if not _HOST_RE.match(item):
            raise _Problem(f"{item[:40]!r} is not a host, domain or network")
    return ",".join(items)


def _store(value):
    """patchstore: postgres, filesystem (or its legacy name file). The legacy charm's
    s3 and swift stores (real-charms-facts section 1) are not served here: the unit
    blocks with UNSUPPORTED_STORE (status.py) and changes nothing."""
    text = _text(value).lower()
    if text in LEGACY_STORES:
        raise _UnsupportedStore(text)
    if text not in STORES + ("file",):
        raise _Problem(f"must be one of {', '.join(STORES)}, not {_text(value)[:40]!r}")
    return text


def _pem_certificates(value):
    """contracts_ca: PEM CA certificate(s), as ssl loads them (empty: none)."""
    text = _text(value)
    if not text:
        return ""
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise _Problem("must be PEM certificates (-----BEGIN CERTIFICATE----- ...)")
    try:
        ssl.create_default_context().load_verify_locations(cadata=text)
    except (ssl.SSLError, ValueError):
        raise _Problem("holds no certificate that can be loaded") from None
    return text + "\n"


def _as_given(value):
    """Options accepted for the legacy charm's sake and not used: Juju checked the type."""
    return value


def _auth_users(value):
    """user:bcrypt entries, separated by commas or new lines (htpasswd -bnBC 10)."""
    seen = set()
    entries = []
    for number, entry in enumerate(re.split(r"[,\n]", _text(value)), start=1):
        entry = entry.strip()
        if not entry:
            continue
        user, sep, hashed = entry.partition(":")
        if not sep or not _USER_RE.match(user):
            raise _Problem(f"entry {number} is not user:bcrypt-hash")
        match = _BCRYPT_RE.match(hashed)
        if not match:
            raise _Problem(f"entry {number} ({user}) is not a bcrypt hash; make it with htpasswd -bnBC 10")
        if not 4 <= int(match.group(1)) <= 31:
            raise _Problem(f"entry {number} ({user}) has a bcrypt cost outside 4-31")
        if user in seen:
            raise _Problem(f"user {user} appears twice")
        seen.add(user)
        entries.append(entry)
    return "\n".join(entries)


# Every charm option, in config.yaml order, with its converter.
OPTIONS = {
    "url_template": _text,  # checked on its own: it has its own status message
    "port": _integer(1, 65535),
    "listen_on_all_addresses": _boolean,
    "log_level": _choice("debug", "info", "warn", "warning", "error"),
    "concurrency_limit": _integer(1, 10000),
    "burst_limit": _integer(0, 100000),
    "trusted_proxies": _networks,
    "shutdown_drain_timeout": _drain_timeout,
    "auth_basic_users": _auth_users,
    "redirect_downloads": _boolean,
    "dbconn_max": _integer(1, 1000),
    "dbconn_max_lifetime": _duration,
    "psql_dbname": _pg_name,
    "psql_roles": _names(_PG_NAME_RE, "role name"),
    "patchstore": _store,
    "filestore_path": _absolute_path,
    "patch_cache_on": _boolean,
    "patch_cache_size": _integer(1, 1024 * 1024),
    "patch_cache_ttl": _duration,
    "patch_sync_enabled": _boolean,
    "sync_upstream": _http_url(required=False),
    "sync_token": _token,
    "sync_interval": _duration,
    "sync_flavors": _names(_FLAVOUR_RE, "kernel flavour"),
    "sync_architectures": _names(_ARCH_RE, "architecture"),
    "sync_minimum_kernel_version": _kernel_version,
    "sync_send_machine_reports": _boolean,
    "http_proxy": _http_url(required=False, secret=True),
    "https_proxy": _http_url(required=False, secret=True),
    "no_proxy": _no_proxy,
    "contract_server_url": _http_url(required=True),
    "contracts_ca": _pem_certificates,
    "report_retention": _integer(1, 36500),
    "report_cleanup_interval": _duration,
    "report_cleanup_row_limit": _integer(1, 10_000_000),
    "blocklist_cache_refresh": _duration,
    # The web console's stale machines: 1 minute to 365 days, as the server accepts.
    "console_stale_after": _duration_between(60, 365 * 86400, "1m", "365d"),
    # Used by the nrpe checks, as in the legacy charm.
    "nagios_context": _text,
    "nagios_servicegroups": _text,
    # Legacy names that work here (docs/legacy-options.md).
    "storage_path": _text,  # checked in _cross_checks: an absolute path when set
    "filebacked": _boolean,
}


# The legacy reactive charm's options, from a real `juju config` dump (real-charms-facts
# section 1, K8S tests/unit/test-data/old_config.yaml): all 46 exist in config.yaml with
# the legacy type.
LEGACY_DUMP_OPTIONS = (
    "auth_basic_users", "auth_lp_teams", "auth_sso_location", "auth_sso_public_key", "burst_limit",
    "concurrency_limit", "dbconn_max", "dbconn_max_lifetime", "filestore_path", "http_proxy", "https_proxy",
    "log_level", "nagios_context", "nagios_servicegroups", "no_proxy", "patch_cache_on", "patch_cache_size",
    "patch_cache_ttl", "patch_sync_enabled", "patchstore", "port", "psql_dbname", "psql_roles",
    "report_cleanup_interval", "report_cleanup_row_limit", "report_retention", "s3_access_key_id", "s3_bucket",
    "s3_endpoint", "s3_region", "s3_secret_key", "s3_secure", "swift_apikey", "swift_auth_url",
    "swift_container_name", "swift_domain_name", "swift_region_name", "swift_tenant_name", "swift_username",
    "sync_architectures", "sync_flavors", "sync_interval", "sync_minimum_kernel_version",
    "sync_send_machine_reports", "sync_upstream", "url_template",
)
# Names only the migration scripts know (same section: K8S src/legacy_constants.py, MC
# scripts/migrate_config.py); their types are ours, chosen from what they name.
LEGACY_MAPPER_OPTIONS = (
    "sync_token", "sync_identity", "sync_tier", "sync_upstream_tier", "storage_path", "filebacked",
    "blocklist_cache_refresh", "kpi_reports", "contract_server_url", "contract_server_user",
    "contract_server_password", "is_cloud_delay_enabled", "cloud_delay_default_delay_hours",
    "event_bus_brokers", "event_bus_ca_cert", "event_bus_client_cert", "event_bus_client_key",
    "influxdb_url", "influxdb_token", "influxdb_bucket", "influxdb_organization",
    "profiler_enabled", "profiler_server_address", "profiler_hostname", "profiler_sample_rate",
    "profiler_upload_rate", "profiler_mutex_profile_fraction", "profiler_block_profile_rate",
    "profiler_profile_allocations", "profiler_profile_inuse", "profiler_profile_mutexes",
    "profiler_profile_blocks", "profiler_profile_goroutines",
)

_SSO = "there is no SSO login here: admins are auth_basic_users"
_S3 = "there is no s3 store here (patchstore: postgres or filesystem)"
_SWIFT = "there is no swift store here (patchstore: postgres or filesystem)"
_EVENT_BUS = "machine reports go to PostgreSQL here, not to an event bus"
_INFLUX = "there is no InfluxDB output here: Prometheus metrics are at /metrics"
_PROFILER = "there is no continuous profiler here (the legacy server's Go profiler)"
_CLOUD_DELAY = "there is no cloud delay here (the migration scripts drop it too)"
_CONTRACTS = "get-resource-token uses the Ubuntu Pro attachment or a contract token, not a user and password"

# Options accepted and without effect here: name -> (config.yaml default, why). One that
# differs from its default is logged once per change and counted in the active status.
IGNORED = {
    "sync_tier": ("edge", "synced patches land in the first tier (edge); promote them with livepatch-admin"),
    "sync_upstream_tier": ("updates", "the sync token decides the upstream tier (a sync token is issued for one tier)"),
    "sync_identity": ("", "the sync token identifies this server upstream"),
    "blocklist_cache_refresh": ("5m", "a block applies as soon as it is committed, on every unit"),
    "auth_lp_teams": ("", _SSO),
    "auth_sso_location": ("login.ubuntu.com", _SSO),
    "auth_sso_public_key": ("", _SSO),
    "s3_access_key_id": ("", _S3),
    "s3_bucket": ("", _S3),
    "s3_endpoint": ("", _S3),
    "s3_region": ("", _S3),
    "s3_secret_key": ("", _S3),
    "s3_secure": (True, _S3),
    "swift_apikey": ("", _SWIFT),
    "swift_auth_url": ("", _SWIFT),
    "swift_container_name": ("", _SWIFT),
    "swift_domain_name": ("", _SWIFT),
    "swift_region_name": ("", _SWIFT),
    "swift_tenant_name": ("", _SWIFT),
    "swift_username": ("", _SWIFT),
    "contract_server_user": ("", _CONTRACTS),
    "contract_server_password": ("", _CONTRACTS),
    "kpi_reports": ("", "there are no KPI reports here (Canonical-internal reporting)"),
    "is_cloud_delay_enabled": (False, _CLOUD_DELAY),
    "cloud_delay_default_delay_hours": (0, _CLOUD_DELAY),
    "event_bus_brokers": ("", _EVENT_BUS),
    "event_bus_ca_cert": ("", _EVENT_BUS),
    "event_bus_client_cert": ("", _EVENT_BUS),
    "event_bus_client_key": ("", _EVENT_BUS),
    "influxdb_url": ("", _INFLUX),
    "influxdb_token": ("", _INFLUX),
    "influxdb_bucket": ("", _INFLUX),
    "influxdb_organization": ("", _INFLUX),
    "profiler_enabled": (False, _PROFILER),
    "profiler_server_address": ("", _PROFILER),
    "profiler_hostname": ("", _PROFILER),
    "profiler_sample_rate": (0, _PROFILER),
    "profiler_upload_rate": ("", _PROFILER),
    "profiler_mutex_profile_fraction": (0, _PROFILER),
    "profiler_block_profile_rate": (0, _PROFILER),
    "profiler_profile_allocations": (False, _PROFILER),
    "profiler_profile_inuse": (False, _PROFILER),
    "profiler_profile_mutexes": (False, _PROFILER),
    "profiler_profile_blocks": (False, _PROFILER),
    "profiler_profile_goroutines": (False, _PROFILER),
}
for _name in IGNORED:
    OPTIONS.setdefault(_name, _as_given)

# Options that shape what the charm does and are not passed to the server as they are.
# blocklist_cache_refresh still goes to the server, which checks it and does nothing with it.
CHARM_ONLY = frozenset({"listen_on_all_addresses", "storage_path", "filebacked", "contracts_ca",
                        "nagios_context", "nagios_servicegroups", *IGNORED}) - {"blocklist_cache_refresh"}


def _same(value, default):
    if isinstance(default, bool):
        try:
            return _boolean(value) == default
        except _Problem:
            return False
    if isinstance(default, int):
        try:
            return int(str(value).strip()) == default
        except ValueError:
            return False
    return _text(value) == default


def ignored_options(raw):
    """The options of IGNORED that differ from their default in this config -> {name: why},
    sorted by name. Values are never part of the answer (some are secrets)."""
    return {
        name: why
        for name, (default, why) in sorted(IGNORED.items())
        if raw.get(name) is not None and not _same(raw.get(name), default)
    }


def _check_url_template(value):
    text = _text(value)
    if not text:
        return "url_template is not set"
    if "{filename}" not in text:
        return "url_template must contain {filename}"
    parts = urlsplit(text.replace("{filename}", "x"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "url_template must be an http:// or https:// URL"
    return None


def validate(raw):
    """Juju config (a mapping) -> the normalised settings, one entry per option.

    Raises InvalidConfig listing every problem; ``status_message`` gives the
    status line (``url_template not set`` wins over the rest).
    """
    settings = {}
    problems = []
    unsupported_store = None
    url_problem = _check_url_template(raw.get("url_template"))
    if url_problem:
        problems.append(url_problem)
    for name, convert in OPTIONS.items():
        try:
            settings[name] = convert(raw.get(name))
        except _UnsupportedStore as exc:
            unsupported_store = exc.store
            problems.append(f"{name} {exc}")
        except _Problem as exc:
            problems.append(f"{name} {exc}")
    if not problems:
        problems.extend(_cross_checks(settings))
    if problems:
        raise InvalidConfig(problems, url_template_missing=bool(url_problem), unsupported_store=unsupported_store)
    _legacy_storage(settings)
    return settings


def _legacy_storage(settings):
    """The legacy names of the filesystem store, as the migration scripts map them
    (real-charms-facts section 1): storage_path is filestore_path, filebacked=true is
    patchstore=filesystem."""
    if settings["storage_path"]:
        settings["filestore_path"] = settings["storage_path"]
    if settings["filebacked"] and settings["patchstore"] == "postgres":
        settings["patchstore"] = "filesystem"


def validate_options(raw, names):
    """Check only some options (e.g. what an action needs while url_template is unset)."""
    settings, problems = {}, []
    for name in names:
        try:
            settings[name] = OPTIONS[name](raw.get(name))
        except _Problem as exc:
            problems.append(f"{name} {exc}")
    if problems:
        raise InvalidConfig(problems)
    return settings


def _cross_checks(settings):
    if settings["patch_sync_enabled"] and not settings["sync_upstream"]:
        yield "sync_upstream is not set but patch_sync_enabled is true"
    storage_path = settings["storage_path"]
    if storage_path:
        try:
            storage_path = settings["storage_path"] = _absolute_path(storage_path)
        except _Problem as exc:
            yield f"storage_path {exc}"
            return
        if settings["filestore_path"] not in (FILESTORE_DEFAULT, storage_path):
            # Which folder holds the patches is not ours to guess.
            yield "storage_path and filestore_path name different folders: unset one of them"
