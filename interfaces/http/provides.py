"""Service side of the http interface: tell a reverse proxy where this unit listens.

Flags (``{endpoint_name}`` is the endpoint's name in metadata.yaml, e.g. ``website``):

``{endpoint_name}.available``
    At least one proxy is related; call :meth:`HttpProvides.configure`.
    Cleared when the last relation goes away.

Keys written (our unit's data, raw strings): ``hostname``, ``private-address``, ``port``.

Keys read: none from the proxy; our own unit's ``ingress-address`` (set by
Juju) is the default address.
"""

from charmhelpers.core import hookenv
from charms.reactive import Endpoint, toggle_flag


class HttpProvides(Endpoint):
    def manage_flags(self):
        toggle_flag(self.expand_name("{endpoint_name}.available"), self.is_joined)

    def configure(self, port, private_address=None, hostname=None):
        """Publish port and address on every relation; a no-op if unchanged.

        Without private_address, each relation gets our ingress address on it.
        """
        for relation in self.relations:
            address = private_address or hookenv.ingress_address(
                rid=relation.relation_id, unit=hookenv.local_unit()
            )
            data = {
                "hostname": hostname or address,
                "private-address": address,
                "port": str(port),
            }
            for key, value in data.items():
                if relation.to_publish_raw.get(key) != value:
                    relation.to_publish_raw[key] = value
