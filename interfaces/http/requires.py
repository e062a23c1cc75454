"""Proxy side of the http interface: learn where the units of HTTP services listen.

Flags (``{endpoint_name}`` is the endpoint's name in metadata.yaml, e.g. ``reverseproxy``):

``{endpoint_name}.available``
    At least one related unit published a ``port``; see
    :meth:`HttpRequires.services`. Cleared when no such unit is left.

Keys read (each service unit's data, raw strings): ``hostname``,
``private-address``, ``port``.

Keys written: none.
"""

from charms.reactive import Endpoint, toggle_flag


class HttpRequires(Endpoint):
    def manage_flags(self):
        toggle_flag(self.expand_name("{endpoint_name}.available"), bool(self.services()))

    def services(self):
        """``[{'service_name', 'hosts': [{'hostname', 'private-address', 'port'}]}]``.

        One entry per related application (its name is the service name),
        holding each of its units that published a port.
        """
        by_service = {}
        for relation in self.relations:
            for unit in relation.joined_units:
                data = unit.received_raw
                port = data.get("port")
                address = data.get("private-address")
                if not port or not address:
                    continue
                hosts = by_service.setdefault(relation.application_name, [])
                hosts.append(
                    {"hostname": data.get("hostname") or address, "private-address": address, "port": port}
                )
        return [{"service_name": name, "hosts": hosts} for name, hosts in sorted(by_service.items())]
