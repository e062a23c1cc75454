"""Actions: get-resource-token end to end against the fake contracts server
(tests/fakecontracts.py) (from the machine's Pro attachment, a contract-token parameter
or the ua relation), and the leader-only / not-configured / paused refusals. The hook
tools behind hookenv are faked (FakeJuju); the machine is attached to the fake server
and the Pro client's files written where the charm reads them (pro_attach); the action
code runs as is."""

import socket

import pytest

from charms.livepatch import actions
from charmtest import load_interface, pro_attach

load_interface("ua-token", "requires")  # what charm build puts under hooks/relations/

ONPREM_PATH = "/v1/resources/livepatch-onprem/context/machines/livepatch-onprem"


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed once we leave: nothing listens there


def attached_machine(contracts_server, pro_files, contract_token, contract_url):
    """Attach the machine (as the ubuntu-advantage subordinate does): -> the fake's Machine
    and the number of requests the server had seen until then."""
    pro_attach(str(pro_files), contracts_server, contract_token, contract_url=contract_url)
    (machine,) = contracts_server.machines_for(contract_token)
    return machine, len(contracts_server.requests)


def resource_path(machine):
    return f"/v1/resources/livepatch-onprem/context/machines/{machine.machine_id}"


def assert_no_secret_shown(juju, contracts_server, *more):
    for secret in contracts_server.secrets() + list(more):
        assert secret not in juju.outputs()


def only_token_handed_out(contracts_server, machine):
    return {"resource-token": contracts_server.resource_token_for(machine.machine_token)}


# --- the legacy flow: no parameters, the machine attached by ubuntu-advantage -----------


def test_no_parameters_uses_the_machine_attachment(juju, pro_files, contracts_server, contract_token):
    """The subordinate attached the machine; the Pro client's contract_url (uaclient.conf)
    wins over the charm's option, which here points nowhere."""
    machine, before = attached_machine(contracts_server, pro_files, contract_token, contracts_server.url)
    juju.config["contract_server_url"] = f"http://127.0.0.1:{closed_port()}"
    juju.run_action("get-resource-token")
    assert juju.failure is None, juju.failure
    assert juju.leader_data == only_token_handed_out(contracts_server, machine)
    assert juju.results["source"] == "pro-attachment"
    assert juju.results["contract-server"] == contracts_server.url
    assert "Ubuntu Pro attachment" in juju.results["result"] and "every unit" in juju.results["result"]
    (request,) = contracts_server.requests[before:]  # one GET, no attach
    assert (request.method, request.path, request.status) == ("GET", resource_path(machine), 200)
    assert request.headers["authorization"] == f"Bearer {machine.machine_token}"
    assert juju.reactive_runs == 1
    assert_no_secret_shown(juju, contracts_server)


def test_attachment_without_contract_url_uses_the_option(juju, pro_files, contracts_server, contract_token):
    machine, _ = attached_machine(contracts_server, pro_files, contract_token, None)
    juju.config["contract_server_url"] = contracts_server.url
    juju.run_action("get-resource-token")
    assert juju.failure is None and juju.leader_data == only_token_handed_out(contracts_server, machine)
    assert juju.results["contract-server"] == contracts_server.url


def test_not_attached_says_what_to_do(juju, pro_files):
    juju.run_action("get-resource-token")
    assert juju.failure.startswith("this machine is not attached to Ubuntu Pro: relate the ubuntu-advantage")
    assert "juju config ubuntu-advantage token=" in juju.failure
    assert "contract-token=" in juju.failure
    assert juju.leader_data == {} and juju.reactive_runs == 0


def test_empty_machine_token_file_means_not_attached(juju, pro_files, contracts_server, contract_token):
    token_file, _ = pro_attach(str(pro_files), contracts_server, contract_token)
    open(token_file, "w").close()  # the Pro client's attached test: the file has content
    juju.run_action("get-resource-token")
    assert juju.failure.startswith("this machine is not attached to Ubuntu Pro")


def test_broken_machine_token_file(juju, pro_files, contracts_server, contract_token):
    token_file, _ = pro_attach(str(pro_files), contracts_server, contract_token)
    with open(token_file, "w") as handle:
        handle.write('{"machineTokenInfo": {"machineId": "x"}}')
    juju.run_action("get-resource-token")
    assert "no machineToken" in juju.failure and "re-attach" in juju.failure


def test_rejected_machine_token_says_to_reattach(juju, pro_files, contracts_server, contract_token):
    machine, _ = attached_machine(contracts_server, pro_files, contract_token, contracts_server.url)
    contracts_server.revoke(machine.machine_token)  # the machine was re-attached elsewhere since
    juju.run_action("get-resource-token")
    assert "HTTP 401" in juju.failure
    assert "re-attach the machine" in juju.failure and "juju config ubuntu-advantage token=" in juju.failure
    assert juju.leader_data == {}
    assert_no_secret_shown(juju, contracts_server)


def test_attachment_not_entitled(juju, pro_files, contracts_server, contract_token):
    machine, before = attached_machine(contracts_server, pro_files, contract_token, contracts_server.url)
    contracts_server.fail("resource", 403, {"info": {"reason": "no-longer-effective"}})
    juju.run_action("get-resource-token")
    assert "HTTP 403: no-longer-effective" in juju.failure and "not entitled" in juju.failure
    assert [r.path for r in contracts_server.requests[before:]] == [resource_path(machine)]
    assert juju.leader_data == {}


def test_attachment_to_a_contract_without_livepatch_onprem(juju, pro_files, contracts_server):
    token = contracts_server.add_contract_token("esm-only-contract", resources=()).token
    attached_machine(contracts_server, pro_files, token, contracts_server.url)
    juju.run_action("get-resource-token")
    assert "HTTP 403: contract has no livepatch-onprem entitlement" in juju.failure
    assert "not entitled" in juju.failure and juju.leader_data == {}
    assert_no_secret_shown(juju, contracts_server)


def test_unreachable_contracts_server_names_the_proxy_settings(juju, pro_files, contracts_server, contract_token):
    attached_machine(contracts_server, pro_files, contract_token, f"http://127.0.0.1:{closed_port()}")
    juju.run_action("get-resource-token")
    assert juju.failure.startswith("cannot reach the contract server")
    assert "http_proxy, https_proxy and no_proxy" in juju.failure
    assert "model's proxy settings" in juju.failure


def test_hanging_contracts_server_times_out(juju, pro_files, contracts_server, contract_token, monkeypatch):
    machine, before = attached_machine(contracts_server, pro_files, contract_token, contracts_server.url)
    # the real exchange with a shorter default timeout (proxies=None, timeout=60, ca="")
    assert actions.contracts.get_resource_token_for_machine.__defaults__ == (None, actions.contracts.TIMEOUT, "")
    monkeypatch.setattr(actions.contracts.get_resource_token_for_machine, "__defaults__", (None, 0.5, ""))
    contracts_server.hang("resource")
    juju.run_action("get-resource-token")
    assert "did not answer within 0.5s" in juju.failure and "proxy settings" in juju.failure
    (request,) = contracts_server.requests[before:]
    assert request.path == resource_path(machine) and request.status == 0  # never answered
    assert juju.leader_data == {}
    assert_no_secret_shown(juju, contracts_server)


def test_model_proxy_settings_when_the_options_are_empty(juju, pro_files, contracts_server, contract_token,
                                                         monkeypatch):
    """Juju hands the model's proxies to hooks and actions as JUJU_CHARM_*_PROXY (reactive-facts §9)."""
    machine, before = attached_machine(contracts_server, pro_files, contract_token, contracts_server.url)
    monkeypatch.setenv("JUJU_CHARM_HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    juju.run_action("get-resource-token")
    assert juju.failure.startswith("cannot reach the contract server")
    assert contracts_server.requests[before:] == []  # it went to the (closed) proxy
    monkeypatch.setenv("JUJU_CHARM_NO_PROXY", "127.0.0.1,localhost")
    juju.run_action("get-resource-token")
    assert juju.failure is None and juju.leader_data == only_token_handed_out(contracts_server, machine)


def test_charm_proxy_options_win_over_the_model(juju, pro_files, contracts_server, contract_token, monkeypatch):
    attached_machine(contracts_server, pro_files, contract_token, contracts_server.url)
    monkeypatch.setenv("JUJU_CHARM_HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    juju.config["no_proxy"] = "127.0.0.1"
    juju.run_action("get-resource-token")
    assert juju.failure is None and juju.results["source"] == "pro-attachment"


# --- other sources -----------------------------------------------------------------------


def test_contract_token_parameter_beats_the_attachment(juju, pro_files, contracts_server, contract_token):
    attached, before = attached_machine(contracts_server, pro_files, contract_token,
                                        f"http://127.0.0.1:{closed_port()}")
    juju.config["contract_server_url"] = contracts_server.url
    juju.run_action("get-resource-token", **{"contract-token": contract_token})
    assert juju.failure is None
    (onprem,) = [m for m in contracts_server.machines_for(contract_token) if m is not attached]
    assert onprem.machine_id == "livepatch-onprem"
    assert juju.leader_data == only_token_handed_out(contracts_server, onprem)
    assert juju.results["source"] == "contract-token-parameter"
    attach_request, get = contracts_server.requests[before:]
    assert [attach_request.path, get.path] == ["/v1/context/machines/token", ONPREM_PATH]
    assert attach_request.headers["authorization"] == f"Bearer {contract_token}"
    assert get.headers["authorization"] == f"Bearer {onprem.machine_token}"
    assert_no_secret_shown(juju, contracts_server)


def test_attachment_beats_the_ua_relation(juju, pro_files, contracts_server, contract_token):
    attached_machine(contracts_server, pro_files, contract_token, contracts_server.url)
    juju.relate("ua:5", {"ubuntu-advantage/0": {}}, app_data={"token": "not-used", "attached": "true"})
    juju.run_action("get-resource-token")
    assert juju.results["source"] == "pro-attachment"


def test_resource_token_from_the_ua_relation(juju, pro_files, contracts_server, contract_token):
    juju.config["contract_server_url"] = contracts_server.url
    juju.relate("ua:5", {"ubuntu-advantage/0": {}}, app_data={"token": contract_token, "attached": "true"})
    juju.run_action("get-resource-token")
    assert juju.failure is None
    (machine,) = contracts_server.machines_for(contract_token)
    assert juju.leader_data == only_token_handed_out(contracts_server, machine)
    assert juju.results["source"] == "ua-relation"
    assert_no_secret_shown(juju, contracts_server)


def test_resource_token_the_server_hands_out(juju, pro_files, contracts_server, contract_token):
    """Whatever the contracts server hands out is what the units get (hand_out fixes it)."""
    contracts_server.hand_out("rt-the-one-canonical-accepts")
    juju.config["contract_server_url"] = contracts_server.url
    juju.run_action("get-resource-token", **{"contract-token": contract_token})
    assert juju.failure is None and juju.leader_data == {"resource-token": "rt-the-one-canonical-accepts"}
    assert_no_secret_shown(juju, contracts_server)


def test_sync_token_option_is_mentioned(juju, pro_files, contracts_server, contract_token):
    juju.config.update(contract_server_url=contracts_server.url, sync_token="set-by-operator")
    juju.run_action("get-resource-token", **{"contract-token": contract_token})
    assert "sync_token option is set" in juju.results["result"]


def test_rejected_contract_token_fails_with_the_cause(juju, pro_files, contracts_server, contract_token):
    juju.config["contract_server_url"] = contracts_server.url
    juju.run_action("get-resource-token", **{"contract-token": "not-the-right-one"})
    assert "HTTP 401" in juju.failure and "check the Ubuntu Pro contract token" in juju.failure
    assert "not-the-right-one" not in juju.outputs()
    assert juju.leader_data == {}
    assert [r.status for r in contracts_server.requests] == [401]


def test_not_entitled_fails_with_the_reason(juju, pro_files, contracts_server, contract_token):
    contracts_server.fail("attach", 403, {"info": {"reason": "never-effective"}})
    juju.config["contract_server_url"] = contracts_server.url
    juju.run_action("get-resource-token", **{"contract-token": contract_token})
    assert "HTTP 403: never-effective" in juju.failure
    assert_no_secret_shown(juju, contracts_server)


def test_malformed_answer_fails_without_a_token(juju, pro_files, contracts_server, contract_token):
    contracts_server.fail("attach", 200, {"machineTokenInfo": {}})
    juju.config["contract_server_url"] = contracts_server.url
    juju.run_action("get-resource-token", **{"contract-token": contract_token})
    assert "sent no machineToken" in juju.failure and juju.leader_data == {}
    assert_no_secret_shown(juju, contracts_server)


def test_bad_contract_server_url_is_a_config_problem(juju, pro_files):
    juju.config["contract_server_url"] = "contracts.example"
    juju.run_action("get-resource-token", **{"contract-token": "a-contract-token"})
    assert juju.failure.startswith("invalid config: contract_server_url")


# --- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["get-resource-token", "schema-upgrade"])
def test_leader_only_actions_refuse_elsewhere(juju, pro_files, action):
    juju.leader = False
    juju.run_action(action, **{"contract-token": "a-contract-token"})
    assert juju.failure == (
        f"{action} runs on the leader only and livepatch/0 is not the leader: run it on livepatch/leader"
    )
    assert juju.leader_data == {}


@pytest.mark.parametrize("action", ["schema-version", "restart"])
def test_actions_needing_the_service_refuse_before_it_is_configured(juju, monkeypatch, tmp_path, action):
    monkeypatch.setattr(actions.paths, "CONFIG_FILE", str(tmp_path / "missing.yaml"))
    juju.run_action(action)
    assert juju.failure.startswith("the service is not configured yet")


def test_unknown_action(juju):
    juju.run_action("frobnicate")
    assert juju.failure == "unknown action frobnicate"
