"""The contract token -> resource token exchange, against a local contracts server
that speaks the two endpoints (and fails in the ways the real one can)."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from charms.livepatch import contracts

CONTRACT = "contract-token-SECRET"
MACHINE = "machine-token-SECRET"
RESOURCE = "resource-token-SECRET"
RELEASE = {"VERSION": "22.04.4 LTS (Jammy Jellyfish)", "VERSION_ID": "22.04", "VERSION_CODENAME": "jammy"}


class Contracts(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests = []
        self.fail = {}  # path -> (status, body) or "hang"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append((method, self.path, dict(self.headers), body))
        failure = self.server.fail.get(self.path)
        if failure == "hang":
            time.sleep(1.5)
            return self._answer(200, {})
        if failure:
            return self._answer(*failure)
        auth = self.headers.get("Authorization")
        if method == "POST" and self.path == "/v1/context/machines/token":
            if auth != f"Bearer {CONTRACT}":
                return self._answer(401, {"code": "unauthorized", "message": "invalid token"})
            return self._answer(200, {"machineToken": MACHINE, "machineTokenInfo": {"contractInfo": {"id": "c1"}}})
        if method == "GET" and self.path == "/v1/resources/livepatch-onprem/context/machines/livepatch-onprem":
            if auth != f"Bearer {MACHINE}":
                return self._answer(401, {"message": "bad machine token"})
            return self._answer(200, {"resourceToken": RESOURCE})
        return self._answer(404, {"message": "no such endpoint"})

    def do_POST(self):
        self._handle("POST")

    def do_GET(self):
        self._handle("GET")


@pytest.fixture
def server():
    httpd = Contracts()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def exchange(server, token=CONTRACT, **kwargs):
    return contracts.get_resource_token(token, server.url + "/", release=RELEASE, **kwargs)


def failure(server, **kwargs):
    with pytest.raises(contracts.ContractError) as caught:
        exchange(server, **kwargs)
    message = str(caught.value)
    for secret in (CONTRACT, MACHINE, RESOURCE):
        assert secret not in message
    return message


def test_two_step_exchange(server):
    assert exchange(server) == RESOURCE
    (m1, p1, h1, b1), (m2, p2, h2, b2) = server.requests
    assert (m1, p1) == ("POST", "/v1/context/machines/token")
    assert h1["Authorization"] == f"Bearer {CONTRACT}"
    assert h1["Content-Type"] == "application/json"
    body = json.loads(b1)
    assert body["machineId"] == "livepatch-onprem" and body["hostType"] == "container"
    assert body["os"]["type"] == "Linux" and body["os"]["series"] == "jammy"
    assert body["os"]["release"] == "22.04" and body["os"]["distribution"].startswith("22.04")
    assert body["architecture"] and body["os"]["kernel"]
    assert (m2, p2) == ("GET", "/v1/resources/livepatch-onprem/context/machines/livepatch-onprem")
    assert h2["Authorization"] == f"Bearer {MACHINE}"


def test_bad_contract_token_is_401(server):
    message = failure(server, token="wrong-token")
    assert "HTTP 401" in message and "contract token" in message


def test_not_entitled_is_403_with_the_reason(server):
    server.fail["/v1/context/machines/token"] = (
        403,
        {"code": "forbidden", "info": {"contractId": "c1", "reason": "no-longer-effective", "time": "2024-01-01"}},
    )
    message = failure(server)
    assert "HTTP 403: no-longer-effective" in message and "not entitled" in message


def test_403_on_the_resource_step(server):
    server.fail["/v1/resources/livepatch-onprem/context/machines/livepatch-onprem"] = (
        403, {"info": {"reason": "not-effective-yet"}})
    message = failure(server)
    assert "not-effective-yet" in message and "resource token" in message


def test_other_status(server):
    server.fail["/v1/context/machines/token"] = (500, {"message": f"boom while handling {CONTRACT}"})
    message = failure(server)
    assert "HTTP 500" in message and "boom" in message  # the echoed token is scrubbed (checked in failure)


def test_timeout(server):
    server.fail["/v1/context/machines/token"] = "hang"
    message = failure(server, timeout=0.5)
    assert "did not answer within 0.5s" in message


def test_unreachable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once we leave: nothing listens there
    with pytest.raises(contracts.ContractError) as caught:
        contracts.get_resource_token(CONTRACT, f"http://127.0.0.1:{port}", release=RELEASE, timeout=5)
    assert "cannot reach the contract server" in str(caught.value)
    assert "refused" in str(caught.value).lower()


def test_answer_without_machine_token(server):
    server.fail["/v1/context/machines/token"] = (200, {"somethingElse": True})
    assert "no machineToken" in failure(server)


def test_non_json_answer(server):
    server.fail["/v1/resources/livepatch-onprem/context/machines/livepatch-onprem"] = (200, "plain")
    assert "unexpected JSON" in failure(server)


def test_no_proxy_bypasses_the_configured_proxy(server):
    # The proxy address is closed: only a bypass reaches the server.
    proxies = {"http": "http://127.0.0.1:9", "https": "http://127.0.0.1:9", "no": "127.0.0.1,localhost"}
    assert exchange(server, proxies=proxies) == RESOURCE


def test_configured_proxy_is_used(server):
    proxies = {"http": "http://127.0.0.1:9", "no": "example.invalid"}
    assert "cannot reach the contract server" in failure(server, proxies=proxies)
    assert server.requests == []


def test_machine_info_from_os_release(tmp_path):
    release = tmp_path / "os-release"
    release.write_text('NAME="Ubuntu"\nVERSION="24.04 LTS (Noble Numbat)"\nVERSION_ID="24.04"\nVERSION_CODENAME=noble\n')
    info = contracts.machine_info(contracts.os_release(str(release)))
    assert info["os"]["series"] == "noble" and info["os"]["release"] == "24.04"
