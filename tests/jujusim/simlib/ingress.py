"""Ingress addresses that are no address of the unit (floating IPs, cross-model).

With an ingress offset (`jujusim init --ingress-offset K` or `deploy --ingress-offset
K`) machine N has its own (bind) address SUBNET.(N+1) and an ingress address
SUBNET.(N+1+K): `network-get` reports the first in bind-addresses and the second in
ingress-addresses, and Juju's relation settings (private-address, ingress-address)
carry the second. Like a cloud's NAT in front of a machine, the controller forwards
TCP connections to ingress:port on to bind:port for every port something listens
on at the bind address, keeping the client's source address. Nothing of the unit
has the ingress address: a service that listens on it works here only by accident
(all of 127/8 is local on the host), so the forwarder reports such listeners in the
controller's log ("listens on its ingress address").
"""

import socket
import threading
import time

POLL = 0.2


def listening(path="/proc/net/tcp"):
    """(address, port) of the IPv4 TCP sockets in LISTEN state."""
    out = set()
    try:
        with open(path) as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return out
    for line in lines:
        parts = line.split()
        if len(parts) > 3 and parts[3] == "0A":
            hexaddr, hexport = parts[1].split(":")
            addr = ".".join(str(int(hexaddr[i:i + 2], 16)) for i in (6, 4, 2, 0))
            out.add((addr, int(hexport, 16)))
    return out


def _pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class _Listener:
    def __init__(self, ingress, bind, port):
        self.ingress, self.bind, self.port = ingress, bind, port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ingress, port))
        self.sock.listen(64)
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, (peer, _) = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client, peer), daemon=True).start()

    def _serve(self, client, peer):
        upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            try:
                upstream.bind((peer, 0))   # NAT keeps the client's address
            except OSError:
                pass
            upstream.connect((self.bind, self.port))
        except OSError:
            client.close()
            upstream.close()
            return
        t = threading.Thread(target=_pipe, args=(client, upstream), daemon=True)
        t.start()
        _pipe(upstream, client)
        t.join()
        client.close()
        upstream.close()

    def close(self):
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass


class Forwarder:
    """Runs in the controller: keeps one listener per (ingress, port) that has a
    service behind it at the bind address."""

    def __init__(self, model, say):
        self.model = model
        self.say = say
        self.listeners = {}
        self.warned = set()

    def mapping(self):
        try:
            st = self.model.read()
        except Exception:  # noqa: BLE001 - the model may be going away
            return {}
        return {u["address"]: u["ingress"] for u in st["units"].values()
                if u.get("ingress") and u["ingress"] != u["address"] and not u.get("principal")}

    def step(self):
        mapping = self.mapping()
        if not mapping and not self.listeners:
            return
        socks = listening()
        wanted = set()
        ingresses = set(mapping.values())
        for addr, port in socks:
            if addr in mapping:
                wanted.add((mapping[addr], addr, port))
        for key in sorted(wanted - set(self.listeners)):
            try:
                self.listeners[key] = _Listener(*key)
            except OSError as e:
                if key not in self.warned:
                    self.warned.add(key)
                    self.say("ingress %s:%d -> %s:%d not forwarded: %s" % (
                        key[0], key[2], key[1], key[2], e))
        for key in set(self.listeners) - wanted:
            self.listeners.pop(key).close()
        ours = {(k[0], k[2]) for k in self.listeners}
        for addr, port in socks:
            if addr in ingresses and (addr, port) not in ours and (addr, port) not in self.warned:
                self.warned.add((addr, port))
                self.say("WARNING something listens on %s:%d, a unit's ingress address: on a "
                         "real machine that address is not local (bind to the bind-address)"
                         % (addr, port))

    def run(self, stopping):
        while not stopping():
            try:
                self.step()
            except Exception as e:  # noqa: BLE001 - never let the thread die
                self.say("ingress forwarder: %s" % e)
            time.sleep(POLL)
        for listener in self.listeners.values():
            listener.close()
