"""Consumer side of the ua-token interface: receive the Ubuntu Pro contract token.

Flags (``{endpoint_name}`` is the endpoint's name in metadata.yaml, e.g. ``ua``):

``{endpoint_name}.connected``
    An ubuntu-advantage application is related.
``{endpoint_name}.token.available``
    It published a non-empty ``token``; read it with :meth:`UaTokenRequires.token`.
``{endpoint_name}.attached``
    It reports ``attached`` = ``"true"`` (the machine is attached to the contract).

All are cleared when the relation goes away and re-evaluated on every change.

Keys read (the provider's APPLICATION data, raw strings): ``token``,
``contract_url``, ``attached``.

Keys written: none.

The token is a secret: nothing here logs it, and callers must not either.
"""

import json

from charms.reactive import Endpoint, toggle_flag


def _value(raw):
    # The protocol uses raw strings; accept a JSON-encoded string too, so a
    # provider built on to_publish_app (which JSON-encodes) still works.
    if isinstance(raw, str) and len(raw) >= 2 and raw[0] == raw[-1] == '"':
        try:
            decoded = json.loads(raw)
        except ValueError:
            return raw
        return decoded if isinstance(decoded, str) else raw
    return raw


class UaTokenRequires(Endpoint):
    def manage_flags(self):
        toggle_flag(self.expand_name("{endpoint_name}.connected"), self.is_joined)
        toggle_flag(self.expand_name("{endpoint_name}.token.available"), bool(self.token()))
        toggle_flag(self.expand_name("{endpoint_name}.attached"), self.attached())

    def _app_data(self):
        for relation in self.relations:
            # Without joined units the remote application is unknown, and
            # received_app would read our own application's data instead.
            if relation.joined_units:
                yield relation.received_app_raw

    def _get(self, key):
        for data in self._app_data():
            value = _value(data.get(key))
            if value:
                return value
        return None

    def token(self):
        """The Pro contract token, or None."""
        return self._get("token")

    def contract_url(self):
        """The contracts server the token belongs to, or None."""
        return self._get("contract_url")

    def attached(self):
        """Whether the provider reports its machine attached to the contract."""
        return str(self._get("attached") or "").lower() == "true"
