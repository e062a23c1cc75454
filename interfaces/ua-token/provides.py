"""Provider side of the ua-token interface: hand the Ubuntu Pro contract token over.

Flags (``{endpoint_name}`` is the endpoint's name in metadata.yaml, e.g. ``ua``):

``{endpoint_name}.connected``
    At least one consumer is related. Cleared when the last relation goes.

Keys written (our APPLICATION data, so only by the leader; raw strings):
    ``token`` (the contract token), ``contract_url``, ``attached``
    (``"true"`` once attached, else ``"false"``).

Keys read: none.

The token is a secret: nothing here logs it.
"""

from charmhelpers.core import hookenv
from charms.reactive import Endpoint, toggle_flag


class UaTokenProvides(Endpoint):
    def manage_flags(self):
        toggle_flag(self.expand_name("{endpoint_name}.connected"), self.is_joined)

    def publish(self, token, contract_url="https://contracts.canonical.com", attached=False):
        """Publish the token on every relation. Leader only (application data)."""
        if not hookenv.is_leader():
            raise RuntimeError("only the leader can publish application data on " + self.endpoint_name)
        data = {
            "token": token or "",
            "contract_url": contract_url or "",
            "attached": "true" if attached else "false",
        }
        for relation in self.relations:
            for key, value in data.items():
                if relation.to_publish_app_raw.get(key) != value:
                    relation.to_publish_app_raw[key] = value

    def clear(self):
        """Withdraw the token (e.g. when the operator unsets it)."""
        self.publish("", contract_url=None, attached=False)
