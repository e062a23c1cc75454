"""Which proxy a request to the upstream goes through, from the config's
http_proxy, https_proxy and no_proxy (the environment's are not consulted when
the config names a proxy: the config is the one source of truth)."""

import ipaddress
from urllib.parse import urlsplit


def _bypassed(host, port, no_proxy):
    for entry in (item.strip().lower() for item in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        name, _, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if entry_port and entry_port != str(port):
            continue
        name = name or entry
        try:
            if ipaddress.ip_address(host) in ipaddress.ip_network(name, strict=False):
                return True
            continue
        except ValueError:
            pass
        name = name.lstrip(".")
        if host == name or host.endswith("." + name):
            return True
    return False


def proxies_for(url, http_proxy="", https_proxy="", no_proxy=""):
    """The `proxies` argument for requests: {} leaves requests' defaults alone
    (no proxy configured); {"http": None, "https": None} forces a direct
    connection (host listed in no_proxy)."""
    if not (http_proxy or https_proxy):
        return {}
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if _bypassed(host, port, no_proxy or ""):
        return {"http": None, "https": None}
    chosen = {}
    if http_proxy:
        chosen["http"] = http_proxy
    if https_proxy:
        chosen["https"] = https_proxy
    return chosen
