"""The resource token exchanges (contract token -> machine token -> resource token,
and an attached machine's token -> resource token), against the fake contracts server
(tests/fakecontracts.py: it speaks the endpoints and fails in the ways the real one can);
and reading the Pro client's files of an attached machine."""

import json
import os
import socket

import pytest

from charms.livepatch import contracts, pro
from charmtest import RELEASE, attach, pro_attach

RESOURCE_PATH = "/v1/resources/livepatch-onprem/context/machines/livepatch-onprem"


def exchange(contracts_server, token, **kwargs):
    return contracts.get_resource_token(token, contracts_server.url + "/", release=RELEASE, **kwargs)


def failure(contracts_server, token, **kwargs):
    with pytest.raises(contracts.ContractError) as caught:
        exchange(contracts_server, token, **kwargs)
    message = str(caught.value)
    for secret in contracts_server.secrets() + [token]:
        assert secret not in message
    return message


def test_two_step_exchange(contracts_server, contract_token):
    resource_token = exchange(contracts_server, contract_token)
    (machine,) = contracts_server.machines_for(contract_token)
    assert resource_token == contracts_server.resource_token_for(machine.machine_token)
    first, second = contracts_server.requests
    assert (first.method, first.path) == ("POST", "/v1/context/machines/token")
    assert first.headers["authorization"] == f"Bearer {contract_token}"
    assert first.headers["content-type"] == "application/json"
    body = first.json
    assert body["machineId"] == "livepatch-onprem" and body["hostType"] == "container"
    assert body["os"]["type"] == "Linux" and body["os"]["series"] == "jammy"
    assert body["os"]["release"] == "22.04" and body["os"]["distribution"].startswith("22.04")
    assert body["architecture"] and body["os"]["kernel"]
    assert machine.machine_id == "livepatch-onprem"
    assert (second.method, second.path) == ("GET", RESOURCE_PATH)
    assert second.headers["authorization"] == f"Bearer {machine.machine_token}"
    assert (first.status, second.status) == (200, 200)


def test_bad_contract_token_is_401(contracts_server, contract_token):
    message = failure(contracts_server, "wrong-token")
    assert "HTTP 401" in message and "contract token" in message


def test_not_entitled_is_403_with_the_reason(contracts_server, contract_token):
    contracts_server.fail(
        "attach", 403,
        {"code": "forbidden", "info": {"contractId": "c1", "reason": "no-longer-effective", "time": "2024-01-01"}},
    )
    message = failure(contracts_server, contract_token)
    assert "HTTP 403: no-longer-effective" in message and "not entitled" in message


def test_forbidden_contract_token_is_403(contracts_server, contract_token):
    contracts_server.forbid(contract_token)
    message = failure(contracts_server, contract_token)
    assert "HTTP 403: contract token is not allowed to attach" in message and "not entitled" in message


def test_403_on_the_resource_step(contracts_server, contract_token):
    contracts_server.fail("resource", 403, {"info": {"reason": "not-effective-yet"}})
    message = failure(contracts_server, contract_token)
    assert "not-effective-yet" in message and "resource token" in message
    assert [r.status for r in contracts_server.requests] == [200, 403]


def test_contract_without_livepatch_onprem(contracts_server):
    token = contracts_server.add_contract_token("esm-only-contract", resources=()).token
    message = failure(contracts_server, token)
    assert "HTTP 403" in message and "livepatch-onprem" in message and "resource token" in message


def test_other_status(contracts_server, contract_token):
    contracts_server.fail("attach", 500, {"message": f"boom while handling {contract_token}"})
    message = failure(contracts_server, contract_token)
    assert "HTTP 500" in message and "boom" in message  # the echoed token is scrubbed (checked in failure)


def test_timeout(contracts_server, contract_token):
    contracts_server.hang("attach")
    message = failure(contracts_server, contract_token, timeout=0.5)
    assert "did not answer within 0.5s" in message and "proxy settings" in message
    (attach_request,) = contracts_server.requests_to("attach")
    assert attach_request.status == 0  # the server never answered


def test_unreachable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once we leave: nothing listens there
    with pytest.raises(contracts.ContractError) as caught:
        contracts.get_resource_token("a-contract-token", f"http://127.0.0.1:{port}", release=RELEASE, timeout=5)
    assert "cannot reach the contract server" in str(caught.value)
    assert "refused" in str(caught.value).lower()
    assert "check the proxy settings: livepatch's http_proxy, https_proxy and no_proxy" in str(caught.value)


def test_answer_without_machine_token(contracts_server, contract_token):
    contracts_server.fail("attach", 200, {"somethingElse": True})
    assert "no machineToken" in failure(contracts_server, contract_token)


def test_non_json_answer(contracts_server, contract_token):
    contracts_server.fail("resource", 200, "plain")  # JSON, but not an object
    assert "unexpected JSON" in failure(contracts_server, contract_token)


def test_garbage_answer(contracts_server, contract_token):
    contracts_server.fail("resource", 200, b"<html><body>Sign in to the hotel wifi</body></html>")
    assert "sent no JSON while fetching the livepatch-onprem resource token" in failure(
        contracts_server, contract_token)


def test_no_proxy_bypasses_the_configured_proxy(contracts_server, contract_token):
    # The proxy address is closed: only a bypass reaches the server.
    proxies = {"http": "http://127.0.0.1:9", "https": "http://127.0.0.1:9", "no": "127.0.0.1,localhost"}
    resource_token = exchange(contracts_server, contract_token, proxies=proxies)
    (machine,) = contracts_server.machines_for(contract_token)
    assert resource_token == contracts_server.resource_token_for(machine.machine_token)


def test_configured_proxy_is_used(contracts_server, contract_token):
    proxies = {"http": "http://127.0.0.1:9", "no": "example.invalid"}
    assert "cannot reach the contract server" in failure(contracts_server, contract_token, proxies=proxies)
    assert contracts_server.requests == []


def test_machine_info_from_os_release(tmp_path):
    release = tmp_path / "os-release"
    release.write_text('NAME="Ubuntu"\nVERSION="24.04 LTS (Noble Numbat)"\nVERSION_ID="24.04"\nVERSION_CODENAME=noble\n')
    info = contracts.machine_info(contracts.os_release(str(release)))
    assert info["os"]["series"] == "noble" and info["os"]["release"] == "24.04"


# --- an attached machine: one GET with its machine token ------------------------------------


def test_resource_token_for_an_attached_machine(contracts_server, contract_token):
    attached = attach(contracts_server, contract_token)  # what the Pro client did
    machine_token, machine_id = attached["machineToken"], attached["machineTokenInfo"]["machineId"]
    before = len(contracts_server.requests)
    token = contracts.get_resource_token_for_machine(machine_token, machine_id, contracts_server.url + "/")
    assert token == contracts_server.resource_token_for(machine_token)
    (request,) = contracts_server.requests[before:]
    assert (request.method, request.path) == ("GET", f"/v1/resources/livepatch-onprem/context/machines/{machine_id}")
    assert request.headers["authorization"] == f"Bearer {machine_token}"


def test_machine_id_is_quoted_in_the_path(contracts_server, contract_token):
    machine_token = attach(contracts_server, contract_token, machine_id="a/b c")["machineToken"]
    token = contracts.get_resource_token_for_machine(machine_token, "a/b c", contracts_server.url)
    assert token == contracts_server.resource_token_for(machine_token)  # the server read the id back
    (request,) = contracts_server.requests_to("resource")
    assert request.path.endswith("/machines/a%2Fb%20c")


def test_attached_machine_token_rejected_says_to_reattach(contracts_server, contract_token):
    machine_id = attach(contracts_server, contract_token)["machineTokenInfo"]["machineId"]
    with pytest.raises(contracts.ContractError) as caught:
        contracts.get_resource_token_for_machine("stale-token", machine_id, contracts_server.url)
    assert "HTTP 401" in str(caught.value) and "re-attach the machine" in str(caught.value)
    assert "stale-token" not in str(caught.value)


def test_revoked_machine_token_says_to_reattach(contracts_server, contract_token):
    attached = attach(contracts_server, contract_token)
    machine_token, machine_id = attached["machineToken"], attached["machineTokenInfo"]["machineId"]
    contracts_server.revoke(machine_token)  # detached, or re-attached elsewhere since
    with pytest.raises(contracts.ContractError) as caught:
        contracts.get_resource_token_for_machine(machine_token, machine_id, contracts_server.url)
    assert "HTTP 401" in str(caught.value) and "re-attach the machine" in str(caught.value)
    for secret in contracts_server.secrets():
        assert secret not in str(caught.value)


def test_proxies_are_the_options_else_the_models():
    model = {"JUJU_CHARM_HTTP_PROXY": "http://model:3128", "JUJU_CHARM_HTTPS_PROXY": "http://model:3129",
             "JUJU_CHARM_NO_PROXY": "10.0.0.0/8"}
    none = {"http_proxy": "", "https_proxy": "", "no_proxy": ""}
    assert contracts.proxies(none, model) == {"http": "http://model:3128", "https": "http://model:3129",
                                              "no": "10.0.0.0/8"}
    own = dict(none, https_proxy="http://own:8080")
    assert contracts.proxies(own, model) == {"http": "", "https": "http://own:8080", "no": ""}
    assert contracts.proxies(none, {}) == {"http": "", "https": "", "no": ""}


# --- the Pro client's files ---------------------------------------------------------------------


def test_attachment_from_the_pro_client_files(tmp_path, contracts_server, contract_token):
    token_file, conf_file = pro_attach(str(tmp_path), contracts_server, contract_token,
                                       contract_url="https://contracts.staging.example/")
    (machine,) = contracts_server.machines_for(contract_token)
    attached = pro.attachment(token_file, conf_file)
    assert attached == (machine.machine_token, machine.machine_id, "https://contracts.staging.example")
    assert machine.machine_token not in repr(attached)


def test_no_contract_url_in_uaclient_conf(tmp_path, contracts_server, contract_token):
    token_file, conf_file = pro_attach(str(tmp_path), contracts_server, contract_token)
    assert pro.attachment(token_file, conf_file).contract_url is None
    assert pro.attachment(token_file, str(tmp_path / "missing.conf")).contract_url is None


def test_not_attached(tmp_path, contracts_server, contract_token):
    assert pro.attachment(str(tmp_path / "machine-token.json"), str(tmp_path / "uaclient.conf")) is None
    token_file, conf_file = pro_attach(str(tmp_path), contracts_server, contract_token)
    open(token_file, "w").close()  # emptied: the Pro client's test says not attached
    assert pro.attachment(token_file, conf_file) is None


@pytest.mark.parametrize("content, why", [
    ("{not json", "not JSON"),
    ("[]", "not a JSON object"),
    (json.dumps({"machineTokenInfo": {"machineId": "m"}}), "no machineToken"),
    (json.dumps({"machineToken": "t", "machineTokenInfo": {}}), "no machineTokenInfo.machineId"),
])
def test_broken_machine_token_file(tmp_path, contracts_server, contract_token, content, why):
    token_file, conf_file = pro_attach(str(tmp_path), contracts_server, contract_token)
    with open(token_file, "w") as handle:
        handle.write(content)
    with pytest.raises(pro.ProStateError, match=why):
        pro.attachment(token_file, conf_file)


def test_unreadable_machine_token_file(tmp_path, contracts_server, contract_token):
    token_file, conf_file = pro_attach(str(tmp_path), contracts_server, contract_token)
    os.remove(token_file)
    os.mkdir(token_file)  # unreadable as a file, for root too
    with pytest.raises(pro.ProStateError, match="cannot read .*machine-token.json: Is a directory"):
        pro.attachment(token_file, conf_file)


def test_credentials_in_the_server_url_are_never_shown():
    assert contracts.shown("https://user:pa55@contracts.example:8443/x") == "https://contracts.example:8443/x"
    assert contracts.shown("https://contracts.example") == "https://contracts.example"
    with pytest.raises(contracts.ContractError) as caught:
        contracts.get_resource_token_for_machine("t", "m", f"http://user:pa55@127.0.0.1:{closed_port()}", timeout=5)
    assert "pa55" not in str(caught.value) and "http://127.0.0.1:" in str(caught.value)


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
