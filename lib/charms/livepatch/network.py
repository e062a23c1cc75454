"""Where the unit listens: the ingress address of the website endpoint, and its port."""

import yaml
from charmhelpers.core import hookenv, unitdata

from .system import CommandFailed, run

_OPENED_PORT_KEY = "livepatch.opened-port"


def first_address(info):
    """The address others reach us at, from `network-get <endpoint>` output (pure)."""
    if not isinstance(info, dict):
        return None
    for address in info.get("ingress-addresses") or []:
        if address:
            return str(address)
    for binding in info.get("bind-addresses") or []:
        for entry in binding.get("addresses") or []:
            address = entry.get("value") or entry.get("address")
            if address:
                return str(address)
    return None


def bind_address(endpoint="website"):
    """Ingress address of the endpoint; unit-get private-address if Juju gives none."""
    try:
        address = first_address(yaml.safe_load(run(["network-get", endpoint, "--format", "yaml"])))
    except (CommandFailed, yaml.YAMLError) as exc:
        hookenv.log(f"network-get {endpoint} gave no address ({exc}); using private-address", hookenv.WARNING)
        address = None
    return address or hookenv.unit_get("private-address")


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
