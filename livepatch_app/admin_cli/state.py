"""What every command shares: the server URL, TLS trust, credentials, output format.

The HTTP client is built on first use, so `--help` and `logout` of an unknown server
need no URL or session."""

import atexit
import base64
import os
import sys
import tempfile
from urllib.parse import urlsplit, urlunsplit

import click

from .api_client import APIClient
from .errors import AUTH, USAGE, CLIError
from .output import FORMATS
from .token_store import TokenStore

LOGIN_HINT = "livepatch-admin login -a USER:PASSWORD"


class State:
    def __init__(self, url=None, ca=None, auth=None, fmt="table", timeout=30.0, store=None):
        self.raw_url = url
        self.ca = ca
        self.auth = auth
        self.fmt = fmt or "table"
        self.timeout = timeout
        self.store = store or TokenStore()
        self._client = None

    # -- server -----------------------------------------------------------------------------

    @property
    def url(self):
        return normalize_url(self.raw_url)

    def client(self):
        if self._client is None:
            self._client = APIClient(self.url, verify=self.verify(), timeout=self.timeout,
                                     auth=self.authorization, on_expired=self._forget_expired)
        return self._client

    def verify(self):
        """requests' `verify`: the CA bundle to trust, else the system's."""
        if not self.ca:
            return True
        value = self.ca.strip()
        if value.startswith("-----BEGIN"):  # LIVEPATCH_CA_CRT may hold the PEM itself
            return _pem_file(value)
        if not os.path.isfile(value):
            raise CLIError(f"the CA certificate file {value} does not exist", USAGE)
        return value

    # -- credentials ------------------------------------------------------------------------

    def authorization(self):
        """The Authorization header: Basic from -a/LIVEPATCH_AUTH, else the stored session."""
        if self.auth:
            user, password = parse_credentials(self.auth)
            return basic_header(user, password)
        entry = self.store.get(self.url)
        if entry is None:
            raise CLIError(f"not logged in to {self.url}: run `{LOGIN_HINT}` first", AUTH)
        return f"Bearer {entry['token']}"

    def _forget_expired(self):
        if not self.auth:
            self.store.forget(self.url)


def normalize_url(raw):
    """'HTTP://Host:8080/' -> 'http://host:8080': one key per server for the token file
    (a path prefix is kept: a server may sit under one behind a proxy)."""
    if not raw or not raw.strip():
        raise CLIError("no server: set LIVEPATCH_URL or pass --url http://HOST:PORT", USAGE)
    text = raw.strip()
    if "://" not in text:
        raise CLIError(f"invalid server URL {text!r}: use http://HOST[:PORT] or https://HOST[:PORT]", USAGE)
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise CLIError(f"invalid server URL {text!r}: use http://HOST[:PORT] or https://HOST[:PORT]", USAGE) \
            from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise CLIError(f"invalid server URL {text!r}: use http://HOST[:PORT] or https://HOST[:PORT]", USAGE)
    if parts.username or parts.password:
        raise CLIError("put credentials in -a USER:PASSWORD (or LIVEPATCH_AUTH), not in the server URL", USAGE)
    scheme, netloc = parts.scheme.lower(), parts.netloc.lower()
    if parts.port == {"http": 80, "https": 443}[scheme]:  # http://host:80 is http://host
        netloc = netloc.rsplit(":", 1)[0]
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))


def parse_credentials(value):
    """'user:password' -> (user, password). A bare 'user' asks for the password on a
    terminal. The value itself never appears in an error."""
    user, sep, password = value.partition(":")
    if not user:
        raise CLIError("credentials must be USER:PASSWORD", USAGE)
    if not sep:
        if not sys.stdin.isatty():
            raise CLIError("credentials must be USER:PASSWORD (or give USER alone on a terminal to be asked)",
                           USAGE)
        password = click.prompt(f"Password for {user}", hide_input=True, err=True)
    return user, password


def basic_header(user, password):
    raw = f"{user}:{password}".encode("utf-8")
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _pem_file(pem):
    handle = tempfile.NamedTemporaryFile("w", prefix="livepatch-ca-", suffix=".crt", delete=False)
    with handle:
        handle.write(pem if pem.endswith("\n") else pem + "\n")
    atexit.register(_remove, handle.name)
    return handle.name


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass


pass_state = click.make_pass_decorator(State)


def _set_format(ctx, param, value):
    if value is not None:
        ctx.find_object(State).fmt = value


# Every command also takes --format after its name (`livepatch-admin tier list --format json`).
format_option = click.option("--format", "fmt", type=click.Choice(FORMATS), default=None, expose_value=False,
                             callback=_set_format, help="Output: table (default), json or yaml.")


class AliasGroup(click.Group):
    """A group that also answers to other names for some commands (`sync report`)."""

    def __init__(self, *args, aliases=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.aliases = aliases or {}

    def get_command(self, ctx, cmd_name):
        return super().get_command(ctx, self.aliases.get(cmd_name, cmd_name))

    def resolve_command(self, ctx, args):
        name, command, rest = super().resolve_command(ctx, args)
        return (command.name if command else name), command, rest


def paging_options(command):
    """--limit/--offset for the listings the server pages (it answers total, limit, offset)."""
    command = click.option("--offset", type=click.IntRange(min=0), help="Skip this many first.")(command)
    return click.option("--limit", type=click.IntRange(min=1), help="At most this many (server default 100).")(command)
