"""Charm config validation: one pure function from Juju's config to the server's settings.

The charm checks everything itself (it does not import livepatch_app), so that
a bad value blocks the unit with a clear status instead of crash-looping the
service. Messages name the option and the problem; for secrets (admin hashes,
tokens, proxy URLs that may carry credentials) they never repeat the value.
"""

import ipaddress
import re
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

    def __init__(self, problems, url_template_missing=False):
        super().__init__("; ".join(problems))
        self.problems = list(problems)
        self.url_template_missing = url_template_missing

    @property
    def status_message(self):
        if self.url_template_missing:
            return URL_TEMPLATE_MISSING
        more = len(self.problems) - 1
        suffix = f" (and {more} more)" if more else ""
        return f"invalid config: {self.problems[0]}{suffix}"


class _Problem(ValueError):
    pass


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
    "patchstore": _choice("postgres", "filesystem", "file"),
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
    "report_retention": _integer(1, 36500),
    "report_cleanup_interval": _duration,
    "report_cleanup_row_limit": _integer(1, 10_000_000),
    "blocklist_cache_refresh": _duration,
}


# Options that shape what the charm does and are not passed to the server as they are.
CHARM_ONLY = frozenset({"listen_on_all_addresses"})


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
    url_problem = _check_url_template(raw.get("url_template"))
    if url_problem:
        problems.append(url_problem)
    for name, convert in OPTIONS.items():
        try:
            settings[name] = convert(raw.get(name))
        except _Problem as exc:
            problems.append(f"{name} {exc}")
    if not problems:
        problems.extend(_cross_checks(settings))
    if problems:
        raise InvalidConfig(problems, url_template_missing=bool(url_problem))
    return settings


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
