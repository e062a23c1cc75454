"""Request bodies are read only after the route's credentials pass, and only up to
the route's own limit: 64 KiB for JSON bodies, `max_upload_size` for patch uploads
(which stream). A declared Content-Length past the limit is 413 before any body
byte is read; a chunked body is cut at the limit (413). Driven over raw sockets,
so the test sees what the server answers before the client has sent its body."""

import base64
import json
import socket
import time

import pytest

from livetest import ADMIN_PASSWORD, ADMIN_USER, wait_for

NAME = "livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2"
MIB = 1024 * 1024
BASIC = "Basic " + base64.b64encode(f"{ADMIN_USER}:{ADMIN_PASSWORD}".encode()).decode()
ANSWER_WITHIN = 5  # seconds: far less than it takes to send the bodies declared here


class Raw:
    """One HTTP/1.1 connection, written and read byte for byte."""

    def __init__(self, server, timeout=ANSWER_WITHIN):
        self.sock = socket.create_connection(("127.0.0.1", server.config.port), timeout=timeout)
        self.buffer = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def head(self, method, path, headers):
        lines = [f"{method} {path} HTTP/1.1", "Host: test"] + [f"{k}: {v}" for k, v in headers.items()]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def _fill(self):
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise AssertionError(f"no answer within {self.sock.gettimeout()} s") from None
        except ConnectionResetError:
            data = b""
        if not data:
            raise AssertionError(f"connection closed; got {self.buffer[:200]!r}")
        self.buffer += data

    def response(self):
        """(status, {lower-case header: value}, body) of the next response (1xx ones too)."""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        length = int(headers.get("content-length", 0)) if status >= 200 else 0
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, headers, body

    def closed_by_server(self):
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True


def _code(body):
    return json.loads(body)["code"]


@pytest.fixture
def server(make_server):
    return make_server(concurrency_limit=4, burst_limit=4, max_upload_size=512)


def test_a_declared_length_past_a_json_routes_limit_is_413_before_any_body_byte(server):
    started = time.monotonic()
    for path, headers in (("/api/machine-tokens", {}), ("/v1/admin/tiers", {"Authorization": BASIC}),
                          ("/v1/sync/report", {"Authorization": "Bearer x"})):
        with Raw(server) as conn:
            conn.head("POST", path, {**headers, "Content-Type": "application/json",
                                     "Content-Length": str(250 * MIB)})
            status, answer_headers, body = conn.response()  # no body byte sent
            assert status == 413 and _code(body) == "body-too-large", (path, body)
            assert answer_headers.get("connection") == "close"
    assert time.monotonic() - started < ANSWER_WITHIN


def test_a_chunked_json_body_is_cut_at_the_limit(server):
    with Raw(server) as conn:
        conn.head("POST", "/v1/admin/tiers", {"Authorization": BASIC, "Transfer-Encoding": "chunked"})
        piece = b"x" * (16 * 1024)
        for _ in range(5):  # 80 KiB, and the body never ends
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        status, _, body = conn.response()
        assert status == 413 and _code(body) == "body-too-large"


def test_chunk_framing_is_bounded_too(server):
    """Bytes that frame no data (an endless chunk-size line, a flood of empty lines,
    an endless trailer) count against the body as well."""
    for body, status in ((b"a" * (1 * MIB), 400), (b"\r\n" * (512 * 1024), 413),
                         (b"1\r\nx\r\n0\r\n" + b"X-Trailer: y\r\n" * 60_000, 400)):
        with Raw(server) as conn:
            conn.head("POST", "/api/machine-tokens", {"Transfer-Encoding": "chunked"})
            try:
                conn.send(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused while still sending: the answer is read below
            answer, _, data = conn.response()
            assert answer == status, (body[:20], data)


def test_an_upload_is_not_read_before_its_credentials_pass(server):
    for authorization, code in ((None, "missing-credentials"), ("Basic YWRtaW46d3Jvbmc=", "invalid-credentials"),
                                ("Bearer not-a-session", "invalid-token")):
        with Raw(server) as conn:
            headers = {"Content-Length": str(100 * MIB)}
            if authorization:
                headers["Authorization"] = authorization
            conn.head("PUT", f"/v1/admin/patches/{NAME}", headers)
            status, _, body = conn.response()  # not one byte of the 100 MiB sent
            assert status == 401 and _code(body) == code, body
    # A client that waits for 100 Continue is told no before it sends anything.
    with Raw(server) as conn:
        conn.head("PUT", f"/v1/admin/patches/{NAME}", {"Content-Length": str(100 * MIB), "Expect": "100-continue"})
        status, _, body = conn.response()
        assert status == 401 and _code(body) == "missing-credentials"
    # Chunked, too.
    with Raw(server) as conn:
        conn.head("PUT", f"/v1/admin/patches/{NAME}", {"Transfer-Encoding": "chunked"})
        conn.send(b"4\r\nabcd\r\n")
        status, _, body = conn.response()
        assert status == 401 and _code(body) == "missing-credentials"
    assert server.admin("GET", "/v1/admin/patches").json()["total"] == 0


def test_an_upload_with_credentials_streams_after_100_continue(server):
    data = b"patch bytes " * 100_000
    with Raw(server) as conn:
        conn.head("PUT", f"/v1/admin/patches/{NAME}", {"Authorization": BASIC, "Expect": "100-continue",
                                                      "Content-Length": str(len(data))})
        status, _, _ = conn.response()
        assert status == 100
        conn.send(data)
        status, headers, body = conn.response()
        assert status == 201, body
        assert json.loads(body)["size"] == len(data)
        # The connection stays usable.
        conn.head("GET", "/v1/admin/patches", {"Authorization": BASIC})
        status, _, body = conn.response()
        assert status == 200 and json.loads(body)["total"] == 1


def test_requests_pipelined_after_a_streamed_upload_are_answered(server):
    data = b"q" * 300_000
    head = (f"PUT /v1/admin/patches/{NAME} HTTP/1.1\r\nHost: x\r\nAuthorization: {BASIC}\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode()
    listing = f"GET /v1/admin/patches HTTP/1.1\r\nHost: x\r\nAuthorization: {BASIC}\r\n\r\n".encode()
    with Raw(server) as conn:
        conn.send(head + data + listing + listing)
        assert [conn.response()[0] for _ in range(3)] == [201, 200, 200]


def test_a_client_that_hangs_up_mid_upload_leaves_nothing(server, caplog):
    caplog.set_level("INFO")
    with Raw(server) as conn:
        conn.head("PUT", f"/v1/admin/patches/{NAME}", {"Authorization": BASIC, "Content-Length": str(10 * MIB)})
        conn.send(b"a" * (3 * MIB))
    wait_for(lambda: server.server.task_dispatcher.active_count == 0, what="the upload's thread being free")
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert server.sql("SELECT count(*) FROM blobs")[0][0] == 0
    assert server.admin("GET", "/v1/admin/patches").json()["total"] == 0


def test_an_upload_past_the_limit_is_cut_while_streaming(make_server):
    server = make_server(concurrency_limit=4, burst_limit=4, max_upload_size=1)
    with Raw(server) as conn:
        conn.head("PUT", f"/v1/admin/patches/{NAME}", {"Authorization": BASIC, "Transfer-Encoding": "chunked"})
        piece = b"y" * (256 * 1024)
        for _ in range(6):  # 1.5 MiB against a 1 MiB limit, and the body never ends
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        status, _, body = conn.response()
        assert status == 413 and _code(body) == "upload-too-large"
    assert server.sql("SELECT count(*) FROM blobs")[0][0] == 0


def test_refused_bodies_small_enough_are_drained_so_clients_see_the_answer(server):
    """An ordinary client that sends its whole body before reading gets the
    refusal, not a reset connection."""
    r = server.request("PUT", f"/v1/admin/patches/{NAME}", data=b"z" * (2 * MIB))
    assert r.status_code == 401 and r.json()["code"] == "missing-credentials"
    r = server.request("POST", "/api/machine-tokens", data=b"z" * (2 * MIB))
    assert r.status_code == 413 and r.json()["code"] == "body-too-large"


def test_waitress_limits_agree_with_the_routes(server):
    from livepatch_app.json_input import MAX_BYTES
    from livepatch_app.serve import waitress_options

    options = waitress_options(server.config)
    # Waitress's own check (declared length >= this) never refuses what an upload may send.
    assert options["max_request_body_size"] == 512 * MIB + 1
    # JSON bodies are held in memory, never spooled to temporary files.
    assert options["inbuf_overflow"] >= MAX_BYTES
    assert options["max_request_header_size"] <= 64 * 1024
