"""Where the unit listens and where others reach it, from `network-get website`; its port.

Juju's `network-get <endpoint>` (reactive-facts §8: charmhelpers calls it as
``network-get <ep> --format yaml``) answers with the endpoint's binding:
``bind-addresses`` (the unit's own interfaces on the bound space; the service
binds to ``bind-addresses[0].addresses[0].value``) and ``ingress-addresses``
(what other units use to reach it, e.g. a NAT or fan address; published to the
proxy). The two differ on clouds with public or fan addresses, so they are read
separately. The charm calls the hook tool itself: charmhelpers' network_get
first runs ``jujud version``, which fails outside a machine agent
(reactive-facts §9).
"""

from collections import namedtuple

import yaml
from charmhelpers.core import hookenv, unitdata

from .system import CommandFailed, run

_OPENED_PORT_KEY = "livepatch.opened-port"
ALL_ADDRESSES = "0.0.0.0"  # what the service binds to with listen_on_all_addresses (every IPv4 address)
LOCALHOST = "127.0.0.1"


class Addresses(namedtuple("Addresses", "bind ingress")):
    """bind: the unit's own address on the endpoint's space; ingress: how others reach it."""


def _bind(info):
    for binding in info.get("bind-addresses") or []:
        for entry in (binding or {}).get("addresses") or []:
            address = (entry or {}).get("value") or (entry or {}).get("address")
            if address:
                return str(address)
    return None


def _ingress(info):
    for address in info.get("ingress-addresses") or []:
        if address:
            return str(address)
    return None


def addresses(info):
    """Addresses(bind, ingress) from `network-get` output (pure); each falls back on the other."""
    if not isinstance(info, dict):
        return Addresses(None, None)
    bind, ingress = _bind(info), _ingress(info)
    return Addresses(bind or ingress, ingress or bind)


def endpoint_addresses(endpoint="website"):
    """The endpoint's Addresses; unit-get private-address for whatever Juju does not give."""
    try:
        found = addresses(yaml.safe_load(run(["network-get", endpoint, "--format", "yaml"])))
    except (CommandFailed, yaml.YAMLError) as exc:
        hookenv.log(f"network-get {endpoint} gave no address ({exc}); using private-address", hookenv.WARNING)
        found = Addresses(None, None)
    if found.bind and found.ingress:
        return found
    fallback = hookenv.unit_get("private-address")
    return Addresses(found.bind or fallback, found.ingress or fallback)


def listen_address(bind, all_addresses):
    """The address the service binds to."""
    return ALL_ADDRESSES if all_addresses else bind


def local_address(listen):
    """An address of this unit where the service answers (for its health check)."""
    return LOCALHOST if listen in (ALL_ADDRESSES, "", None) else listen


def expose(port):
    """open-port the service port (closing a previous one); only when it changed."""
    store = unitdata.kv()
    opened = store.get(_OPENED_PORT_KEY)
    if opened == port:
        return
    if opened:
        hookenv.close_port(opened)
    hookenv.open_port(port)
    store.set(_OPENED_PORT_KEY, port)


def unexpose():
    store = unitdata.kv()
    opened = store.get(_OPENED_PORT_KEY)
    if opened:
        hookenv.close_port(opened)
        store.unset(_OPENED_PORT_KEY)
