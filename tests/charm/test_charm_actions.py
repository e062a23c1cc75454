"""Actions: get-resource-token end to end against a local contracts server, and the
leader-only / not-configured refusals. The hook tools behind hookenv are faked
(FakeJuju + the action and leader tools below); the action code runs as is."""

import pytest
from charmhelpers.core import hookenv

from charms.livepatch import actions, unit
from charmtest import CONTRACT, MACHINE, RESOURCE, ROOT, defaults, load_interface

load_interface("ua-token", "requires")  # what charm build puts under hooks/relations/


class ActionTools:
    def __init__(self, juju, params, config):
        self.juju = juju
        self.params = params
        self.config = config
        self.results = {}
        self.failure = None
        self.leader_data = {}
        self.converged = 0

    def outputs(self):
        return repr((self.results, self.failure))


@pytest.fixture
def tools(juju, monkeypatch):
    config = defaults()
    made = ActionTools(juju, {}, config)
    monkeypatch.setenv("CHARM_DIR", ROOT)  # metadata.yaml tells relation roles
    monkeypatch.setattr(hookenv, "config", lambda scope=None: dict(made.config))
    monkeypatch.setattr(hookenv, "action_get", lambda key=None: made.params.get(key) if key else made.params)
    monkeypatch.setattr(hookenv, "action_set", lambda values: made.results.update(values))
    monkeypatch.setattr(hookenv, "action_fail", lambda message: setattr(made, "failure", message))
    monkeypatch.setattr(hookenv, "leader_set", lambda settings=None, **kw: made.leader_data.update(settings or {}, **kw))
    monkeypatch.setattr(hookenv, "leader_get", lambda attribute=None: made.leader_data.get(attribute))

    def converge():
        made.converged += 1

    # The reactive loop the action hands over to is not what these tests are about.
    monkeypatch.setattr(unit, "run_reactive", converge)
    return made


def test_resource_token_from_the_parameter_goes_to_leader_data(tools, contracts_server):
    tools.config["contract_server_url"] = contracts_server.url
    tools.params["contract-token"] = CONTRACT
    actions.main("get-resource-token")
    assert tools.failure is None
    assert tools.leader_data == {"resource-token": RESOURCE}
    assert "every unit" in tools.results["result"]
    assert tools.converged == 1
    for secret in (CONTRACT, MACHINE, RESOURCE):
        assert secret not in tools.outputs()


def test_resource_token_from_the_ua_relation(tools, juju, contracts_server):
    tools.config["contract_server_url"] = contracts_server.url
    juju.relate("ua:5", {"ubuntu-advantage/0": {}}, app_data={"token": CONTRACT, "attached": "true"})
    actions.main("get-resource-token")
    assert tools.failure is None
    assert tools.leader_data == {"resource-token": RESOURCE}


def test_sync_token_option_is_mentioned(tools, contracts_server):
    tools.config.update(contract_server_url=contracts_server.url, sync_token="set-by-operator")
    tools.params["contract-token"] = CONTRACT
    actions.main("get-resource-token")
    assert "sync_token option is set" in tools.results["result"]


def test_no_contract_token_anywhere(tools):
    actions.main("get-resource-token")
    assert tools.failure.startswith("no contract token: pass contract-token=")
    assert tools.leader_data == {} and tools.converged == 0


def test_rejected_token_fails_with_the_cause(tools, contracts_server):
    tools.config["contract_server_url"] = contracts_server.url
    tools.params["contract-token"] = "not-the-right-one"
    actions.main("get-resource-token")
    assert "HTTP 401" in tools.failure
    assert "not-the-right-one" not in tools.outputs()
    assert tools.leader_data == {}


def test_not_entitled_fails_with_the_reason(tools, contracts_server):
    contracts_server.fail["/v1/context/machines/token"] = (403, {"info": {"reason": "never-effective"}})
    tools.config["contract_server_url"] = contracts_server.url
    tools.params["contract-token"] = CONTRACT
    actions.main("get-resource-token")
    assert "HTTP 403: never-effective" in tools.failure


def test_bad_contract_server_url_is_a_config_problem(tools):
    tools.config["contract_server_url"] = "contracts.example"
    tools.params["contract-token"] = CONTRACT
    actions.main("get-resource-token")
    assert tools.failure.startswith("invalid config: contract_server_url")


@pytest.mark.parametrize("action", ["get-resource-token", "schema-upgrade"])
def test_leader_only_actions_refuse_elsewhere(tools, juju, action):
    juju.leader = False
    tools.params["contract-token"] = CONTRACT
    actions.main(action)
    assert tools.failure == (
        f"{action} runs on the leader only and livepatch/0 is not the leader: run it on livepatch/leader"
    )
    assert tools.leader_data == {}


@pytest.mark.parametrize("action", ["schema-version", "restart"])
def test_actions_needing_the_service_refuse_before_it_is_configured(tools, monkeypatch, tmp_path, action):
    monkeypatch.setattr(actions.paths, "CONFIG_FILE", str(tmp_path / "missing.yaml"))
    actions.main(action)
    assert tools.failure.startswith("the service is not configured yet")


def test_unknown_action(tools):
    actions.main("frobnicate")
    assert tools.failure == "unknown action frobnicate"
