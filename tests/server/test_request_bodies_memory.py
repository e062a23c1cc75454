"""Unauthenticated clients cannot grow the server's memory with bodies: 8 of them,
each trying to send 250 MiB (to the legacy enable with and without a declared
length, and as patch uploads), are answered or cut off early, and the real
`python -m livepatch_app serve` process stays under 150 MB resident at its peak.

Each client stops sending as soon as the server answers or closes, so the test
takes seconds, not the minutes 2 GB would."""

import select
import socket
import threading
import time

from livetest import PeakMemory

MIB = 1024 * 1024
BODY = 250 * MIB
PEAK_LIMIT_MB = 150
NAME = "livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2"
DEADLINE = 20  # seconds per client; a fixed server answers in well under one


class Attacker(threading.Thread):
    """Sends a request head, then body bytes as fast as the server takes them,
    until the server answers or closes (or BODY bytes are out)."""

    def __init__(self, port, head, chunked):
        super().__init__(daemon=True)
        self.port, self.head, self.chunked = port, head, chunked
        self.sent, self.answer = 0, None

    def run(self):
        block = b"[" * (256 * 1024)
        if self.chunked:
            block = b"%x\r\n%s\r\n" % (len(block), block)
        deadline = time.monotonic() + DEADLINE
        with socket.create_connection(("127.0.0.1", self.port)) as sock:
            sock.sendall(self.head)
            sock.setblocking(False)
            while self.sent < BODY and time.monotonic() < deadline:
                readable, writable, _ = select.select([sock], [sock], [], 0.5)
                if readable:
                    try:
                        data = sock.recv(4096)
                    except (ConnectionResetError, BlockingIOError):
                        data = b""
                    self.answer = data.split(b"\r\n", 1)[0].decode("latin-1") if data else "closed"
                    return
                if writable:
                    try:
                        self.sent += sock.send(block)
                    except (BrokenPipeError, ConnectionResetError):
                        self.answer = "closed"
                        return
                    except BlockingIOError:
                        pass
        self.answer = self.answer or "still reading"


def _head(method, path, headers):
    lines = [f"{method} {path} HTTP/1.1", "Host: test"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_eight_unauthenticated_250_mib_bodies_keep_the_server_small(serve_process):
    process, url = serve_process()  # max_upload_size: the default 512 MiB
    port = int(url.rsplit(":", 1)[1])
    declared = _head("POST", "/api/machine-tokens", {"Content-Type": "application/json",
                                                     "Content-Length": str(BODY)})
    chunked = _head("POST", "/api/machine-tokens", {"Content-Type": "application/json",
                                                    "Transfer-Encoding": "chunked"})
    upload = _head("PUT", f"/v1/admin/patches/{NAME}", {"Content-Length": str(BODY)})
    upload_chunked = _head("PUT", f"/v1/admin/patches/{NAME}", {"Transfer-Encoding": "chunked"})
    attackers = ([Attacker(port, declared, False) for _ in range(3)]
                 + [Attacker(port, chunked, True) for _ in range(2)]
                 + [Attacker(port, upload, False) for _ in range(2)]
                 + [Attacker(port, upload_chunked, True)])
    started = time.monotonic()
    with PeakMemory(process.pid) as memory:
        for attacker in attackers:
            attacker.start()
        for attacker in attackers:
            attacker.join(DEADLINE + 5)
    took = time.monotonic() - started
    report = [(a.answer, a.sent // MIB) for a in attackers]
    print(f"RSS before {memory.before} MiB, peak {memory.peak} MiB; {took:.1f} s; (answer, MiB sent): {report}")
    assert memory.peak < PEAK_LIMIT_MB, report
    for attacker in attackers:
        # Answered (413 or 401) or cut off, long before the body was out.
        assert attacker.answer.startswith(("HTTP/1.1 413", "HTTP/1.1 401")) or attacker.answer == "closed", report
        assert attacker.sent < 32 * MIB, report
    assert took < 10, report
    assert process.poll() is None  # and it still serves
