"""The contract token -> resource token exchange, against a local contracts server
that speaks the two endpoints (and fails in the ways the real one can)."""

import json
import socket

import pytest

from charms.livepatch import contracts
from charmtest import CONTRACT, MACHINE, RELEASE, RESOURCE


def exchange(contracts_server, token=CONTRACT, **kwargs):
    return contracts.get_resource_token(token, contracts_server.url + "/", release=RELEASE, **kwargs)


def failure(contracts_server, **kwargs):
    with pytest.raises(contracts.ContractError) as caught:
        exchange(contracts_server, **kwargs)
    message = str(caught.value)
    for secret in (CONTRACT, MACHINE, RESOURCE):
        assert secret not in message
    return message


def test_two_step_exchange(contracts_server):
    assert exchange(contracts_server) == RESOURCE
    (m1, p1, h1, b1), (m2, p2, h2, b2) = contracts_server.requests
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


def test_bad_contract_token_is_401(contracts_server):
    message = failure(contracts_server, token="wrong-token")
    assert "HTTP 401" in message and "contract token" in message


def test_not_entitled_is_403_with_the_reason(contracts_server):
    contracts_server.fail["/v1/context/machines/token"] = (
        403,
        {"code": "forbidden", "info": {"contractId": "c1", "reason": "no-longer-effective", "time": "2024-01-01"}},
    )
    message = failure(contracts_server)
    assert "HTTP 403: no-longer-effective" in message and "not entitled" in message


def test_403_on_the_resource_step(contracts_server):
    contracts_server.fail["/v1/resources/livepatch-onprem/context/machines/livepatch-onprem"] = (
        403, {"info": {"reason": "not-effective-yet"}})
    message = failure(contracts_server)
    assert "not-effective-yet" in message and "resource token" in message


def test_other_status(contracts_server):
    contracts_server.fail["/v1/context/machines/token"] = (500, {"message": f"boom while handling {CONTRACT}"})
    message = failure(contracts_server)
    assert "HTTP 500" in message and "boom" in message  # the echoed token is scrubbed (checked in failure)


def test_timeout(contracts_server):
    contracts_server.fail["/v1/context/machines/token"] = "hang"
    message = failure(contracts_server, timeout=0.5)
    assert "did not answer within 0.5s" in message


def test_unreachable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once we leave: nothing listens there
    with pytest.raises(contracts.ContractError) as caught:
        contracts.get_resource_token(CONTRACT, f"http://127.0.0.1:{port}", release=RELEASE, timeout=5)
    assert "cannot reach the contract server" in str(caught.value)
    assert "refused" in str(caught.value).lower()


def test_answer_without_machine_token(contracts_server):
    contracts_server.fail["/v1/context/machines/token"] = (200, {"somethingElse": True})
    assert "no machineToken" in failure(contracts_server)


def test_non_json_answer(contracts_server):
    contracts_server.fail["/v1/resources/livepatch-onprem/context/machines/livepatch-onprem"] = (200, "plain")
    assert "unexpected JSON" in failure(contracts_server)


def test_no_proxy_bypasses_the_configured_proxy(contracts_server):
    # The proxy address is closed: only a bypass reaches the server.
    proxies = {"http": "http://127.0.0.1:9", "https": "http://127.0.0.1:9", "no": "127.0.0.1,localhost"}
    assert exchange(contracts_server, proxies=proxies) == RESOURCE


def test_configured_proxy_is_used(contracts_server):
    proxies = {"http": "http://127.0.0.1:9", "no": "example.invalid"}
    assert "cannot reach the contract server" in failure(contracts_server, proxies=proxies)
    assert contracts_server.requests == []


def test_machine_info_from_os_release(tmp_path):
    release = tmp_path / "os-release"
    release.write_text('NAME="Ubuntu"\nVERSION="24.04 LTS (Noble Numbat)"\nVERSION_ID="24.04"\nVERSION_CODENAME=noble\n')
    info = contracts.machine_info(contracts.os_release(str(release)))
    assert info["os"]["series"] == "noble" and info["os"]["release"] == "24.04"
