"""Server side of the pgsql interface: grant databases to client applications.

Flags (``{endpoint_name}`` is the endpoint's name in metadata.yaml, e.g. ``db``):

``{endpoint_name}.connected``
    At least one client application is related.
``{endpoint_name}.database.requested``
    At least one client unit published a ``database`` request; see
    :meth:`PgsqlProvides.requests`.

Both are cleared when the last relation goes away.

Keys read (each client unit's data, raw strings):
    ``database``, ``roles``, ``extensions`` (comma-separated); and Juju's
    ``egress-subnets`` / ``ingress-address`` / ``private-address``.

Keys written (our unit's data, raw strings) by :meth:`PgsqlProvides.grant`:
    ``host``, ``port``, ``database``, ``user``, ``password``,
    ``allowed-units`` (space-separated unit names), ``allowed-subnets``
    (comma-separated CIDRs), ``master`` (``host=... port=... dbname=...
    user=... password=...``), ``standbys`` (one libpq string per line),
    ``state`` (``standalone``, ``master`` or ``hot standby``), ``version``,
    and the echoes ``roles`` and ``extensions`` (older clients wait for them;
    this repository's requires side asks for neither).
"""

from collections import namedtuple

from charms.reactive import Endpoint, toggle_flag

DatabaseRequest = namedtuple(
    "DatabaseRequest", "relation_id application units database roles extensions subnets"
)


def _split(value):
    return sorted({item.strip() for item in (value or "").split(",") if item.strip()})


def _quote(value):
    # libpq key=value syntax: quote empty values and values with spaces, quotes
    # or backslashes; inside quotes, backslash-escape ' and \.
    text = str(value)
    if text and not any(c.isspace() or c in "'\\" for c in text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def libpq_dsn(host, port, dbname, user, password):
    """The libpq key=value connection string clients receive as ``master``."""
    pairs = (("host", host), ("port", port), ("dbname", dbname), ("user", user), ("password", password))
    return " ".join(f"{key}={_quote(value)}" for key, value in pairs)


class PgsqlProvides(Endpoint):
    def manage_flags(self):
        toggle_flag(self.expand_name("{endpoint_name}.connected"), self.is_joined)
        toggle_flag(self.expand_name("{endpoint_name}.database.requested"), bool(self.requests()))

    def requests(self):
        """One :data:`DatabaseRequest` per relation whose client asked for a database."""
        found = []
        for relation in self.relations:
            asking = [u for u in relation.joined_units if u.received_raw.get("database")]
            if not asking:
                continue
            first = asking[0].received_raw
            subnets = []
            for unit in relation.joined_units:
                data = unit.received_raw
                nets = (data.get("egress-subnets") or "").split(",")
                address = data.get("ingress-address") or data.get("private-address")
                subnets.extend(n.strip() for n in nets if n.strip())
                if not data.get("egress-subnets") and address:
                    subnets.append(address)
            found.append(
                DatabaseRequest(
                    relation_id=relation.relation_id,
                    application=relation.application_name,
                    units=[u.unit_name for u in relation.joined_units],
                    database=first.get("database"),
                    roles=_split(first.get("roles")),
                    extensions=_split(first.get("extensions")),
                    subnets=sorted(set(subnets)),
                )
            )
        return found

    def grant(self, relation_id, host, port, database, user, password, allowed_units=None,
              allowed_subnets=(), standbys=(), state="standalone", version="", roles=(), extensions=()):
        """Publish a granted database on one relation.

        allowed_units defaults to every client unit currently joined on it.
        """
        relation = self.relations[relation_id]
        if allowed_units is None:
            allowed_units = [u.unit_name for u in relation.joined_units]
        data = {
            "host": host,
            "port": str(port),
            "database": database,
            "user": user,
            "password": password,
            "allowed-units": " ".join(sorted(allowed_units)),
            "allowed-subnets": ",".join(allowed_subnets),
            "master": libpq_dsn(host, port, database, user, password),
            "standbys": "\n".join(standbys),
            "state": state,
            "version": str(version or ""),
            "roles": ",".join(sorted(set(roles))),
            "extensions": ",".join(sorted(set(extensions))),
        }
        for key, value in data.items():
            if relation.to_publish_raw.get(key) != value:
                relation.to_publish_raw[key] = value

    def revoke(self, relation_id):
        """Withdraw a grant: clients lose their ``.database.available`` flags."""
        relation = self.relations[relation_id]
        for key in ("allowed-units", "allowed-subnets", "master", "standbys", "password"):
            if relation.to_publish_raw.get(key):
                relation.to_publish_raw[key] = ""
