"""Client side of the pgsql interface: ask a PostgreSQL application for a database.

The classic protocol, as the postgresql charm's legacy ``db`` endpoint speaks it
(track 14 only; track 16 dropped it: real-charms-facts §5, §5a).

Flags (``{endpoint_name}`` is the endpoint's name in metadata.yaml, e.g. ``db``):

``{endpoint_name}.connected``
    A PostgreSQL application is related.
``{endpoint_name}.database.available``
    A server unit granted our request: it echoes the requested ``database``,
    lists our unit in ``allowed-units`` or covers our egress subnets with
    ``allowed-subnets``, and sent ``host``, ``port``, ``user`` and
    ``password``.
``{endpoint_name}.master.available``
    As above, from a unit whose ``state`` is ``master`` or ``standalone``,
    which sent the ``master`` connection string.

All three are cleared when the relation goes away, and re-evaluated whenever
relation data changes.

Keys written (raw strings): ``database`` in our unit's data, and (leader only)
in our application's data too: the server reads the application's first, then
any unit's (real-charms-facts §5a). Nothing else: no ``roles`` (the postgresql
charm blocks on ``roles`` in application data and grants roles only over
postgresql_client) and no ``extensions``; so there is no echo to wait for.

Keys read (each server unit's data, raw strings):
    ``database``, ``host``, ``port``, ``user``, ``password``,
    ``allowed-units`` (space-separated unit names), ``allowed-subnets``
    (comma-separated CIDRs), ``master`` (libpq ``key=value`` string),
    ``standbys`` (libpq strings separated by commas or new lines), ``state``
    (``standalone``, ``master`` or ``hot standby``), ``version``; and our own
    unit's ``egress-subnets`` / ``ingress-address`` / ``private-address``
    (set by Juju).

The password only travels inside ``master``/``password``; nothing here logs it.
"""

import ipaddress

from charmhelpers.core import hookenv
from charms.reactive import Endpoint, toggle_flag

CREDENTIAL_KEYS = ("host", "port", "user", "password")
PRIMARY_STATES = ("master", "standalone")  # a unit in one of these is the primary


def own_subnets(own_data):
    """The networks our connections come from, as Juju publishes them for our unit."""
    subnets = [s.strip() for s in (own_data.get("egress-subnets") or "").split(",") if s.strip()]
    if subnets:
        return subnets
    address = own_data.get("ingress-address") or own_data.get("private-address")
    return [address] if address else []


def _subnet_allowed(ours, allowed):
    try:
        allowed_nets = [ipaddress.ip_network(a.strip(), strict=False) for a in allowed.split(",") if a.strip()]
        our_nets = [ipaddress.ip_network(o, strict=False) for o in ours]
    except ValueError:
        return False
    if not allowed_nets or not our_nets:
        return False
    return all(
        any(o.version == a.version and o.subnet_of(a) for a in allowed_nets) for o in our_nets
    )


def split_standbys(value):
    """libpq strings separated by new lines (the classic protocol) or commas (the
    postgresql charm, real-charms-facts §5a); a comma inside a quoted value stays."""
    items, current, quoted, escaped = [], [], False, False
    for char in value or "":
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and quoted:
            current.append(char)
            escaped = True
        elif char == "'":
            current.append(char)
            quoted = not quoted
        elif char in ",\n" and not quoted:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def granted(remote, request, unit_name, subnets):
    """Whether one server unit's data answers our request (pure function).

    remote: that unit's raw relation data; request: the raw data we published;
    unit_name: our unit; subnets: our egress subnets (CIDRs or addresses).
    """
    wanted = request.get("database")
    if not wanted or remote.get("database") != wanted:
        return False
    if not all(remote.get(key) for key in CREDENTIAL_KEYS):
        return False
    if unit_name in (remote.get("allowed-units") or "").split():
        return True
    return _subnet_allowed(subnets, remote.get("allowed-subnets") or "")


class PgsqlRequires(Endpoint):
    def manage_flags(self):
        self._update_flags()

    def set_database(self, database):
        """Publish our request on every relation; a no-op if unchanged.

        Our unit's data always; our application's data too on the leader.
        """
        leader = hookenv.is_leader()
        for relation in self.relations:
            targets = [relation.to_publish_raw] + ([relation.to_publish_app_raw] if leader else [])
            for data in targets:
                if data.get("database") != database:
                    data["database"] = database
        self._update_flags()

    def _granted_units(self):
        me = hookenv.local_unit()
        for relation in self.relations:
            units = relation.joined_units
            if not units:  # e.g. in relation-broken: nothing to read, even our own data
                continue
            request = relation.to_publish_raw
            subnets = own_subnets(request)
            for unit in units:
                if granted(unit.received_raw, request, me, subnets):
                    yield unit

    def _granted_unit(self, need_master=False):
        for unit in self._granted_units():
            data = unit.received_raw
            if not need_master or (data.get("state") in PRIMARY_STATES and data.get("master")):
                return unit
        return None

    def _update_flags(self):
        toggle_flag(self.expand_name("{endpoint_name}.connected"), self.is_joined)
        toggle_flag(self.expand_name("{endpoint_name}.database.available"), self._granted_unit() is not None)
        toggle_flag(self.expand_name("{endpoint_name}.master.available"), self.master is not None)

    @property
    def master(self):
        """libpq connection string of the primary (contains the password), or None.

        Taken from a granting unit whose ``state`` is ``master`` or
        ``standalone``: every unit publishes its own state (real-charms-facts §5a).
        """
        unit = self._granted_unit(need_master=True)
        return unit.received_raw.get("master") if unit else None

    @property
    def standbys(self):
        """libpq connection strings of the hot standbys (may be empty)."""
        unit = self._granted_unit()
        if unit is None:
            return []
        return split_standbys(unit.received_raw.get("standbys"))

    @property
    def version(self):
        """PostgreSQL server version the granting unit reports, or None."""
        unit = self._granted_unit()
        return unit.received_raw.get("version") if unit else None
