"""The resource token exchanges (contract token -> machine token -> resource token,
and an attached machine's token -> resource token), against a local contracts server
that speaks the endpoints (and fails in the ways the real one can); and reading the
Pro client's files of an attached machine."""

import json
import os
import socket

import pytest

from charms.livepatch import contracts, pro
from charmtest import CONTRACT, MACHINE, PRO_MACHINE_ID, PRO_MACHINE_TOKEN, RELEASE, RESOURCE, pro_attach


def exchange(contracts_server, token=CONTRACT, **kwargs):
    return contracts.get_resource_token(token, contracts_server.url + "/", release=RELEASE, **kwargs)


def failure(contracts_server, **kwargs):
    with pytest.raises(contracts.ContractError) as caught:
        exchange(contracts_server, **kwargs)
    message = str(caught.value)
    for secret in (CONTRACT, MACHINE, RESOURCE, PRO_MACHINE_TOKEN):
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
    assert "did not answer within 0.5s" in message and "proxy settings" in message


def test_unreachable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once we leave: nothing listens there
    with pytest.raises(contracts.ContractError) as caught:
        contracts.get_resource_token(CONTRACT, f"http://127.0.0.1:{port}", release=RELEASE, timeout=5)
    assert "cannot reach the contract server" in str(caught.value)
    assert "refused" in str(caught.value).lower()
    assert "check the proxy settings: livepatch's http_proxy, https_proxy and no_proxy" in str(caught.value)


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


# --- an attached machine: one GET with its machine token ------------------------------------


def test_resource_token_for_an_attached_machine(contracts_server):
    token = contracts.get_resource_token_for_machine(PRO_MACHINE_TOKEN, PRO_MACHINE_ID, contracts_server.url + "/")
    assert token == RESOURCE
    ((method, path, headers, _),) = contracts_server.requests
    assert (method, path) == ("GET", f"/v1/resources/livepatch-onprem/context/machines/{PRO_MACHINE_ID}")
    assert headers["Authorization"] == f"Bearer {PRO_MACHINE_TOKEN}"


def test_machine_id_is_quoted_in_the_path(contracts_server):
    contracts_server.machines["a/b c"] = "t"
    assert contracts.get_resource_token_for_machine("t", "a/b c", contracts_server.url) == RESOURCE
    assert contracts_server.requests[0][1].endswith("/machines/a%2Fb%20c")


def test_attached_machine_token_rejected_says_to_reattach(contracts_server):
    with pytest.raises(contracts.ContractError) as caught:
        contracts.get_resource_token_for_machine("stale-token", PRO_MACHINE_ID, contracts_server.url)
    assert "HTTP 401" in str(caught.value) and "re-attach the machine" in str(caught.value)
    assert "stale-token" not in str(caught.value)


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


def test_attachment_from_the_pro_client_files(tmp_path):
    token_file, conf_file = pro_attach(str(tmp_path), contract_url="https://contracts.staging.example/")
    attached = pro.attachment(token_file, conf_file)
    assert attached == (PRO_MACHINE_TOKEN, PRO_MACHINE_ID, "https://contracts.staging.example")
    assert PRO_MACHINE_TOKEN not in repr(attached)


def test_no_contract_url_in_uaclient_conf(tmp_path):
    token_file, conf_file = pro_attach(str(tmp_path))
    assert pro.attachment(token_file, conf_file).contract_url is None
    assert pro.attachment(token_file, str(tmp_path / "missing.conf")).contract_url is None


def test_not_attached(tmp_path):
    assert pro.attachment(str(tmp_path / "machine-token.json"), str(tmp_path / "uaclient.conf")) is None
    token_file, conf_file = pro_attach(str(tmp_path))
    open(token_file, "w").close()  # emptied: the Pro client's test says not attached
    assert pro.attachment(token_file, conf_file) is None


@pytest.mark.parametrize("content, why", [
    ("{not json", "not JSON"),
    ("[]", "not a JSON object"),
    (json.dumps({"machineTokenInfo": {"machineId": "m"}}), "no machineToken"),
    (json.dumps({"machineToken": "t", "machineTokenInfo": {}}), "no machineTokenInfo.machineId"),
])
def test_broken_machine_token_file(tmp_path, content, why):
    token_file, conf_file = pro_attach(str(tmp_path))
    with open(token_file, "w") as handle:
        handle.write(content)
    with pytest.raises(pro.ProStateError, match=why):
        pro.attachment(token_file, conf_file)


def test_unreadable_machine_token_file(tmp_path):
    token_file, conf_file = pro_attach(str(tmp_path))
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
