"""Service side of the http interface: tell a reverse proxy where this unit listens.

Flags (``{endpoint_name}`` is the endpoint's name in metadata.yaml, e.g. ``website``):

``{endpoint_name}.available``
    At least one proxy is related; call :meth:`HttpProvides.configure`.
    Cleared when the last relation goes away.

Keys written (our unit's data, raw strings): ``port``, ``private-address``,
``hostname`` and, when given, ``services``: a YAML list of services in the
haproxy charm's format (``service_name``, ``service_host``, ``service_port``,
``service_options``, ``servers``), which haproxy uses instead of generating the
service itself (real-charms-facts §6).

Keys read: from the proxy units, ``private-address`` and ``ingress-address``
(set by Juju), listed by :meth:`HttpProvides.proxy_addresses`; our own unit's
``ingress-address`` is the default address.
"""

import yaml
from charmhelpers.core import hookenv
from charms.reactive import Endpoint, toggle_flag


def services_yaml(services):
    """The ``services`` value: a YAML list, keys in the order given (stable text)."""
    return yaml.safe_dump(list(services), default_flow_style=False, sort_keys=False)


class HttpProvides(Endpoint):
    def manage_flags(self):
        toggle_flag(self.expand_name("{endpoint_name}.available"), self.is_joined)

    def proxy_addresses(self):
        """The ``private-address`` and ``ingress-address`` of every joined proxy unit, each
        once, in relation and unit order (raw strings, as Juju set them)."""
        found = []
        for relation in self.relations:
            for unit in relation.joined_units:
                for key in ("private-address", "ingress-address"):
                    address = (unit.received_raw.get(key) or "").strip()
                    if address and address not in found:
                        found.append(address)
        return found

    def configure(self, port, private_address=None, hostname=None, services=None):
        """Publish port and address (and services) on every relation; a no-op if unchanged.

        Without private_address, each relation gets our ingress address on it.
        services: a list of service dicts (see the module docstring), or None
        to publish none (an earlier ``services`` is withdrawn).
        """
        for relation in self.relations:
            address = private_address or hookenv.ingress_address(
                rid=relation.relation_id, unit=hookenv.local_unit()
            )
            data = {
                "hostname": hostname or address,
                "private-address": address,
                "port": str(port),
                "services": services_yaml(services) if services else "",
            }
            for key, value in data.items():
                if (relation.to_publish_raw.get(key) or "") != value:
                    relation.to_publish_raw[key] = value  # "" removes the key
