"""Server configuration: one YAML file plus LIVEPATCH_<KEY> environment overrides.

Keys are the charm's option names (see docs/charm-README.md) plus a few server-only keys
(database_url, bind_address, ...). Everything is validated once, at start; a bad
value raises ConfigError naming the key, which the CLI prints as one line.
"""

import os
import re
from dataclasses import dataclass

import yaml


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names the key."""


_DURATION_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text):
    """'1h', '30m', '2h30m', '90s', '1d' -> seconds (int). Go-style, as the legacy charm."""
    text = str(text).strip()
    match = _DURATION_RE.match(text)
    if not text or not match or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration like 30s, 10m, 1h or 1d")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def parse_bool(value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{value!r} is not true or false")


def parse_csv(value):
    if isinstance(value, (list, tuple)):
        items = value
    else:
        items = str(value or "").split(",")
    return [item.strip() for item in items if str(item).strip()]


def _int_range(low=None, high=None):
    def convert(value):
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a whole number")
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a whole number") from None
        if low is not None and number < low:
            raise ValueError(f"{number} is below the minimum {low}")
        if high is not None and number > high:
            raise ValueError(f"{number} is above the maximum {high}")
        return number

    return convert


def _choice(*choices):
    def convert(value):
        text = str(value).strip().lower()
        if text not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return text

    return convert


def _url_template(value):
    text = str(value or "").strip()
    if text and "{filename}" not in text:
        raise ValueError("it must contain {filename}")
    return text


def _http_url(value):
    text = str(value or "").strip()
    if text and not re.match(r"^https?://[^\s/]+", text):
        raise ValueError(f"{text!r} is not an http(s) URL")
    return text.rstrip("/")


def _kernel_version(value):
    text = str(value or "").strip()
    if text and not re.match(r"^\d+(\.\d+){0,2}$", text):
        raise ValueError(f"{text!r} is not a kernel version like 5.4 or 5.15.0")
    return text


def _string(value):
    return "" if value is None else str(value)


def _duration(value):
    return parse_duration(value)


def _duration_between(low, high):
    def convert(value):
        seconds = parse_duration(value)
        if not low <= seconds <= high:
            raise ValueError(f"{str(value).strip()!r} is not between {low}s and {high}s")
        return seconds

    return convert


def _auth_users(value):
    # Imported here: bcrypt is only needed when users are configured.
    from .auth_users import parse_users

    return parse_users(_string(value))


def _trusted_proxies(value):
    from .client_address import parse_trusted_proxies

    return parse_trusted_proxies(value)


# key -> (default, converter). Defaults are the server's; the charm passes its own.
OPTIONS = {
    "port": (8080, _int_range(1, 65535)),
    "bind_address": ("127.0.0.1", _string),
    "url_template": ("", _url_template),
    "log_level": ("info", _choice("debug", "info", "warn", "warning", "error")),
    "concurrency_limit": (50, _int_range(1, 10000)),
    "burst_limit": (500, _int_range(0, 100000)),
    "trusted_proxies": ("", _trusted_proxies),  # whose X-Forwarded-For names the client
    "shutdown_drain_timeout": ("30s", _duration_between(0, 3600)),  # SIGTERM: in-flight requests finish
    # failed admin credentials from one source before backoff (auth_throttle.py)
    "auth_throttle_free_failures": (5, _int_range(1, 1_000_000)),
    "auth_basic_users": ("", _auth_users),
    "database_url": ("", _string),
    "dbconn_max": (15, _int_range(1, 1000)),
    "dbconn_max_lifetime": ("30m", _duration),
    "psql_dbname": ("livepatch", _string),
    "psql_roles": ("", _string),
    "patchstore": ("postgres", _choice("postgres", "filesystem", "file")),
    "filestore_path": ("/var/lib/livepatch/patches", _string),
    "import_path": ("", _string),
    "patch_cache_on": (True, parse_bool),  # downloads from a file, not the database
    "patch_cache_path": ("/var/cache/livepatch", _string),
    "patch_cache_size": (128, _int_range(1, 1024 * 1024)),
    "patch_cache_ttl": ("1h", _duration),
    "redirect_downloads": (False, parse_bool),
    "max_upload_size": (512, _int_range(1, 1024 * 1024)),  # MiB
    "patch_sync_enabled": (False, parse_bool),
    "sync_upstream": ("https://livepatch.canonical.com", _http_url),
    "sync_token": ("", _string),
    "sync_interval": ("1h", _duration),
    "sync_flavors": ("generic,lowlatency,aws", parse_csv),
    "sync_architectures": ("", parse_csv),
    "sync_minimum_kernel_version": ("", _kernel_version),
    "sync_send_machine_reports": (False, parse_bool),
    "sync_machine_count": ("bucket", _choice("bucket", "exact")),
    "http_proxy": ("", _string),
    "https_proxy": ("", _string),
    "no_proxy": ("", _string),
    "contract_server_url": ("https://contracts.canonical.com", _http_url),
    "report_retention": (90, _int_range(1, 36500)),
    "report_cleanup_interval": ("6h", _duration),
    "report_cleanup_row_limit": (1000, _int_range(1, 10_000_000)),  # per delete statement
    "blocklist_cache_refresh": ("5m", _duration),
    "console_stale_after": ("48h", _duration_between(60, 365 * 86400)),  # the console's "not seen" machines
    "leader": (True, parse_bool),  # leader-only duties: sync, report clean-up
    "deployment_id": ("", _string),
}

ENV_PREFIX = "LIVEPATCH_"


@dataclass(frozen=True)
class Config:
    values: dict

    def __getattr__(self, name):
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def store_type(self):
        # The legacy charm called the filesystem store "file".
        return "filesystem" if self.values["patchstore"] == "file" else self.values["patchstore"]


def _read_file(path):
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping of option names to values")
    unknown = sorted(set(data) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"config file {path}: unknown option {unknown[0]!r}")
    return data


def load_config(path=None, environ=None, overrides=None):
    """Defaults <- file <- LIVEPATCH_* environment <- overrides; all validated."""
    environ = os.environ if environ is None else environ
    raw = {key: default for key, (default, _) in OPTIONS.items()}
    if path:
        raw.update({k: v for k, v in _read_file(path).items() if v is not None})
    for key in OPTIONS:
        env_key = ENV_PREFIX + key.upper()
        if env_key in environ:
            raw[key] = environ[env_key]
    raw.update(overrides or {})
    values = {}
    for key, (_, convert) in OPTIONS.items():
        try:
            values[key] = convert(raw[key])
        except ConfigError as exc:
            raise ConfigError(f"invalid {key}: {exc}") from None
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"invalid {key}: {exc}") from None
    return Config(values)
