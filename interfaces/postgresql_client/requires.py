"""Client side of the postgresql_client interface: ask a PostgreSQL application for a database.

The protocol of the postgresql charm's ``database`` endpoint (tracks 14 and 16,
data_platform_libs ``data_interfaces``; real-charms-facts §5b). Everything
travels in APPLICATION data: our leader asks, the provider's leader answers.

Flags (``{endpoint_name}`` is the endpoint's name in metadata.yaml, e.g. ``database``):

``{endpoint_name}.connected``
    A PostgreSQL application is related (one of its units joined).
``{endpoint_name}.database.available``
    The provider published credentials for us: ``endpoints`` with
    ``username`` and ``password`` (directly or in the ``secret-user`` Juju
    secret), or ``uris``; see :meth:`PostgresqlClientRequires.credentials`.

Both are cleared when the relation goes away and re-evaluated in every hook.

Keys written (our APPLICATION data, leader only, raw strings), by
:meth:`PostgresqlClientRequires.request`:
    ``database`` (the database name), ``extra-user-roles`` (comma-separated
    roles for our user; only when some are asked for), ``requested-secrets``
    (JSON list of the fields the provider should hand over as Juju secrets;
    only when this Juju has secrets, i.e. JUJU_VERSION >= 3.0.2).

Keys read (the provider's APPLICATION data, raw strings):
    ``database`` (echo of the name), ``endpoints`` (comma-separated
    ``host:port``, the primary first), ``username``, ``password``, ``uris``
    (``postgresql://user:password@host:port/db``), ``version``, and
    ``secret-user``: the URI of a Juju secret holding ``username``,
    ``password`` and ``uris``, read with the ``secret-get`` hook tool.

Credentials are secrets: nothing here logs them.
"""

import json
import os
import re
import subprocess

from charmhelpers.core import hookenv
from charms.reactive import Endpoint, toggle_flag

# The fields we want as Juju secrets when Juju has them: the provider then puts
# username/password/uris into one `secret-user` secret and tls/tls-ca into
# `secret-tls` (real-charms-facts §5b).
REQUESTED_SECRETS = ["username", "password", "uris", "tls", "tls-ca"]
SECRETS_SINCE = (3, 0, 2)  # the Juju version with secrets, as ops and data_interfaces check it
SECRET_USER = "secret-user"
USER_FIELDS = ("username", "password", "uris")


def juju_has_secrets(version):
    """Whether a JUJU_VERSION string (e.g. '3.1.6', '2.9.49', '3.4-beta1') has secrets."""
    numbers = [int(n) for n in re.findall(r"\d+", (version or "").split("-")[0])[:3]]
    if not numbers:
        return False
    numbers += [0] * (3 - len(numbers))
    return tuple(numbers) >= SECRETS_SINCE


def _quote(value):
    # libpq key=value syntax: quote empty values and values with spaces, quotes
    # or backslashes; inside quotes, backslash-escape ' and \.
    text = str(value)
    if text and not any(c.isspace() or c in "'\\" for c in text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _host_port(endpoint):
    """'10.0.0.9:5432' / '[fd00::9]:5432' / 'db.example' -> (host, port)."""
    endpoint = endpoint.strip()
    if endpoint.startswith("["):
        host, _, rest = endpoint[1:].partition("]")
        return host, rest.lstrip(":") or "5432"
    if endpoint.count(":") == 1:
        host, _, port = endpoint.partition(":")
        return host, port or "5432"
    return endpoint, "5432"  # a bare host, or an IPv6 address without a port


class Credentials(dict):
    """What the provider granted: host, port, database, user, password, uri (some may be empty)."""

    def __repr__(self):  # never show the password
        shown = {k: v for k, v in self.items() if k not in ("password", "uri")}
        return f"Credentials({shown})"

    @property
    def dsn(self):
        """A libpq connection string (key=value), or the provider's URI when there are no parts."""
        if self.get("host") and self.get("user") and self.get("password"):
            pairs = (("host", self["host"]), ("port", self.get("port") or "5432"),
                     ("dbname", self["database"]), ("user", self["user"]), ("password", self["password"]))
            return " ".join(f"{key}={_quote(value)}" for key, value in pairs)
        return self.get("uri") or None


class SecretUnreadable(RuntimeError):
    """secret-get failed; str() names the hook tool's error, never the content."""


def secret_get(uri):
    """The content of a Juju secret, through the hook tool.

    charmhelpers 1.2.1 has no wrapper for secret-get; ops calls it as
    ``secret-get <uri> --format=json`` and gets a JSON object of the content's
    keys (canonical/operator test/test_model.py).
    """
    try:
        done = subprocess.run(["secret-get", uri, "--format=json"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        raise SecretUnreadable(f"secret-get could not run: {exc.__class__.__name__}") from None
    if done.returncode != 0:
        lines = (done.stderr or "").strip().splitlines()
        raise SecretUnreadable(f"secret-get failed (exit {done.returncode}): {lines[-1] if lines else 'no output'}")
    try:
        content = json.loads(done.stdout)
    except ValueError:
        raise SecretUnreadable("secret-get printed no JSON") from None
    if not isinstance(content, dict):
        raise SecretUnreadable("secret-get printed no JSON object")
    return {str(k): str(v) for k, v in content.items()}


class PostgresqlClientRequires(Endpoint):
    def manage_flags(self):
        toggle_flag(self.expand_name("{endpoint_name}.connected"), self.is_joined)
        toggle_flag(self.expand_name("{endpoint_name}.database.available"), self.credentials() is not None)

    def request(self, database, roles=(), juju_version=None):
        """Publish our request on every relation; leader only (returns False elsewhere).

        roles: extra roles for our user (``extra-user-roles``). juju_version:
        defaults to JUJU_VERSION, which Juju sets in every hook (reactive-facts §9).
        """
        if not hookenv.is_leader():
            return False
        if juju_version is None:
            juju_version = os.environ.get("JUJU_VERSION", "")
        if isinstance(roles, str):
            roles = roles.split(",")
        wanted = {
            "database": database,
            "extra-user-roles": ",".join(r.strip() for r in roles if r and r.strip()),
            "requested-secrets": json.dumps(REQUESTED_SECRETS) if juju_has_secrets(juju_version) else "",
        }
        for relation in self.relations:
            data = relation.to_publish_app_raw
            for key, value in wanted.items():
                if (data.get(key) or "") != value:
                    data[key] = value  # "" removes the key
        return True

    def _provider_data(self):
        for relation in self.relations:
            # Without joined units the remote application is unknown, and
            # received_app would read our own application's data instead.
            if relation.joined_units:
                yield relation.received_app_raw

    def credentials(self, database=None):
        """Credentials from the first provider that granted some, or None.

        database: the name we asked for; a provider echoing another one (an
        earlier request) is not used. Secrets are read with secret-get; one
        that cannot be read counts as not granted yet (and is logged).
        """
        for data in self._provider_data():
            echoed = data.get("database") or ""
            if database and echoed and echoed != database:
                continue
            fields = {key: data.get(key) or "" for key in USER_FIELDS}
            uri = data.get(SECRET_USER)
            if uri:
                try:
                    secret = secret_get(uri)
                except SecretUnreadable as exc:
                    hookenv.log(f"{self.endpoint_name}: cannot read the {SECRET_USER} secret: {exc}", hookenv.WARNING)
                    continue
                fields.update({key: secret[key] for key in USER_FIELDS if secret.get(key)})
            endpoints = [e for e in (data.get("endpoints") or "").split(",") if e.strip()]
            host, port = _host_port(endpoints[0]) if endpoints else ("", "")
            found = Credentials(
                host=host,
                port=port,
                database=echoed or database or "",
                user=fields["username"],
                password=fields["password"],
                uri=fields["uris"].split(",")[0].strip() if fields["uris"] else "",
                version=data.get("version") or "",
            )
            if found.dsn:
                return found
        return None

    def dsn(self, database=None):
        """The connection string of the granted database (contains the password), or None."""
        found = self.credentials(database)
        return found.dsn if found else None
