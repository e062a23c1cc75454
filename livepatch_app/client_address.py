"""The client's address behind reverse proxies.

Behind haproxy every connection comes from haproxy. The address it saw is in
`X-Forwarded-For` (haproxy's `option forwardfor` appends it), but anyone can
send that header, so it counts only when the connection's peer is one of
`trusted_proxies` (addresses or CIDR networks; empty: trust no one). The list
is walked from the right: each entry is the address the hop after it saw, and
the first address that is not a trusted proxy is the client. An entry that is
not an IP address stops the walk at the last trusted hop.

`ClientAddress` is a WSGI wrapper that puts the result in REMOTE_ADDR (so the
request log, the login throttling and anything else reading
`request.remote_addr` see the client) and keeps the peer as `livepatch.peer`.
It removes every proxy header before the app runs, trusted or not: nothing
else in the app reads them. One is kept in another form: `X-Forwarded-Proto`
from a trusted peer (haproxy terminating TLS sets it to https) becomes
`livepatch.forwarded_proto`, which `request_scheme` reads (the console's
cookie is Secure when the browser's side of the connection is TLS).
"""

import functools
import ipaddress

from .config import parse_csv

PEER_KEY = "livepatch.peer"
PROTO_KEY = "livepatch.forwarded_proto"
# The WSGI names of the headers proxies set (what waitress's clear_untrusted_proxy_headers clears).
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PROTO",
                 "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_BY", "HTTP_FORWARDED")


def parse_trusted_proxies(value):
    """'10.0.0.5, 10.1.0.0/16, fd00::/64' -> a tuple of ip_network. ValueError names a bad entry."""
    networks = []
    for item in parse_csv(value):
        try:
            networks.append(ipaddress.ip_network(item, strict=True))
        except ValueError:
            raise ValueError(f"{item[:60]!r} is not an IP address or a network like 10.0.0.0/24") from None
    return tuple(networks)


def _address(text):
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address, trusted):
    return any(address.version == net.version and address in net for net in trusted)


def client_address(peer, forwarded, trusted):
    """The client's address as text: `peer` itself unless it is a trusted proxy that sent
    `forwarded` (the X-Forwarded-For value, or None)."""
    current = _address(peer or "")
    if current is None:
        return peer
    if forwarded is None or not trusted:
        return str(current)
    for hop in reversed(forwarded.split(",")):
        if not _trusted(current, trusted):
            break
        previous = _address(hop)
        if previous is None:
            break
        current = previous
    return str(current)


# Every request asks, and a fleet comes from few peers (haproxy's, most of all): the
# answer is cached rather than parsed again. Bounded; only short forwarded lists are kept.
_cached_client_address = functools.lru_cache(maxsize=4096)(client_address)
_CACHED_FORWARDED_CHARS = 256


def forwarded_proto(peer, value, trusted):
    """The scheme the proxy saw (its X-Forwarded-Proto `value`: the last entry, the one
    the nearest proxy set) when `peer` is a trusted proxy and it is http or https; else None."""
    if value is None or not trusted:
        return None
    address = _address(peer or "")
    if address is None or not _trusted(address, trusted):
        return None
    proto = value.rsplit(",", 1)[-1].strip().lower()
    return proto if proto in ("http", "https") else None


def request_scheme(environ):
    """http or https: what the client's side of the connection is (through a trusted proxy)."""
    return environ.get(PROTO_KEY) or environ.get("wsgi.url_scheme", "http")


class ClientAddress:
    def __init__(self, app, trusted):
        self.app = app
        self.trusted = tuple(trusted)

    def __call__(self, environ, start_response):
        peer = environ.get("REMOTE_ADDR", "")
        forwarded = environ.get("HTTP_X_FORWARDED_FOR")
        proto = forwarded_proto(peer, environ.get("HTTP_X_FORWARDED_PROTO"), self.trusted)
        if proto:
            environ[PROTO_KEY] = proto
            environ["wsgi.url_scheme"] = proto  # what werkzeug builds URLs (redirects) with: the browser's scheme
        for header in PROXY_HEADERS:
            environ.pop(header, None)
        environ[PEER_KEY] = peer
        find = (_cached_client_address if forwarded is None or len(forwarded) <= _CACHED_FORWARDED_CHARS
                else client_address)
        environ["REMOTE_ADDR"] = find(peer, forwarded, self.trusted)
        return self.app(environ, start_response)
