"""What the website relation asks of haproxy (pure; the http interface publishes it).

The haproxy charm reads only its clients' unit data: ``port`` and
``private-address``, and optionally ``services``, a YAML list that replaces the
service it would generate (real-charms-facts §6). Its generated service checks
servers with a bare ``check`` (a TCP connect), so a unit whose server is up but
whose database is gone would still get traffic. The ``services`` below ask for
an HTTP check of ``GET /debug/status`` instead, which answers 503 in that case.

``option httpchk`` is a backend keyword, so it goes in ``service_options``
(haproxy puts non-frontend options in the backend stanza), not in the server
options. When the operator's own haproxy ``services`` config defines a service
of the same name, its keys win and only the ``servers`` lists are merged
(real-charms-facts §6): the operator's options then replace these. haproxy
keeps its configured services beside these (its hooks.py create_services), and
its default ``haproxy_service`` also takes port 80: the operator guide says to
set haproxy's ``services`` to "" or to a ``livepatch`` service.
"""

import ipaddress

SERVICE_NAME = "livepatch"
SERVICE_HOST = "0.0.0.0"
SERVICE_PORT = 80
HEALTH_CHECK = "GET /debug/status"
# forwardfor: haproxy appends the client's address to X-Forwarded-For, which the units
# believe from the related haproxy units only (trusted_proxies, proxy_addresses below).
# redispatch + retries: a connection refused by a unit that is stopping (its listening
# socket closes at once while it drains, drain.py) is retried on another unit.
SERVICE_OPTIONS = ("mode http", "balance leastconn", f"option httpchk {HEALTH_CHECK}", "option forwardfor",
                   "option redispatch", "retries 3")
SERVER_OPTIONS = "check inter 2000 rise 2 fall 5"  # every 2 s; up after 2 passes, down after 5 failures


def server_name(unit_name):
    """haproxy server name of a unit: livepatch/0 -> livepatch-0."""
    return unit_name.replace("/", "-")


def haproxy_services(unit_name, address, port):
    """The ``services`` list for one unit: the livepatch service with this unit as its server."""
    return [
        {
            "service_name": SERVICE_NAME,
            "service_host": SERVICE_HOST,
            "service_port": SERVICE_PORT,
            "service_options": list(SERVICE_OPTIONS),
            "servers": [[server_name(unit_name), address, int(port), SERVER_OPTIONS]],
        }
    ]


def proxy_addresses(addresses):
    """The IP addresses among the related proxies' addresses, each once, in order: what the
    server trusts X-Forwarded-For from. Anything else (a host name) is left out: the server
    takes addresses and networks only."""
    found = []
    for address in addresses:
        try:
            text = str(ipaddress.ip_address(str(address).strip()))
        except ValueError:
            continue
        if text not in found:
            found.append(text)
    return found
