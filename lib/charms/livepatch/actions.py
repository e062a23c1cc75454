"""The charm's actions. actions/<name> re-executes in the charm's venv and calls main(name).

Failures use action-fail with a sentence naming the cause; no result or
message ever contains a token.
"""

import os
import traceback

from charmhelpers.core import hookenv

from . import contracts, leader, network, paths, pro, schema, service, system, unit, validation


class ActionError(Exception):
    """A failure to report with action-fail, as is."""


def _require_leader(action):
    if not hookenv.is_leader():
        raise ActionError(
            f"{action} runs on the leader only and {hookenv.local_unit()} is not the leader: "
            f"run it on {hookenv.application_name()}/leader"
        )


def _require_configured():
    if not os.path.exists(paths.CONFIG_FILE):
        raise ActionError(
            "the service is not configured yet: relate livepatch to postgresql and wait for the database"
        )


def _ua_token():
    """The contract token an application published over the optional ua relation, or None."""
    from charms.reactive.relations import relation_factory

    factory = relation_factory("ua")
    if factory is None:
        return None
    return factory("ua", hookenv.relation_ids("ua")).token()


# Where get-resource-token got its credentials from: the action's `source` result.
SOURCE_PARAMETER = "contract-token-parameter"
SOURCE_ATTACHMENT = "pro-attachment"
SOURCE_UA_RELATION = "ua-relation"

NOT_ATTACHED = (
    "this machine is not attached to Ubuntu Pro: relate the ubuntu-advantage subordinate "
    "(juju integrate ubuntu-advantage livepatch) and set its token (juju config ubuntu-advantage "
    "token=<Ubuntu Pro token>), wait until it reports Attached, then run get-resource-token again; "
    "or pass contract-token=<token>"
)


def _fetch_resource_token(options, proxies):
    """-> (resource token, source, contracts server used), from the first source there is.

    1. the contract-token parameter: contract token -> machine token -> resource token;
    2. this machine's Pro attachment (the legacy flow: the ubuntu-advantage
       subordinate attached it, pro.py): its machine token -> resource token, at
       the contract_url of uaclient.conf, else contract_server_url;
    3. a contract token from the ua relation (ua-token interface), as in 1.
    """
    default_url = options["contract_server_url"]
    ca = options.get("contracts_ca") or ""
    contract_token = (hookenv.action_get("contract-token") or "").strip()
    if contract_token:
        token = contracts.get_resource_token(contract_token, default_url, proxies=proxies, ca=ca)
        return token, SOURCE_PARAMETER, default_url
    try:
        attached = pro.attachment()
    except pro.ProStateError as exc:
        raise ActionError(
            f"{exc}: re-attach the machine (juju config ubuntu-advantage token=<token>) "
            "or pass contract-token=<token>"
        ) from None
    if attached is not None:
        url = attached.contract_url or default_url
        token = contracts.get_resource_token_for_machine(
            attached.machine_token, attached.machine_id, url, proxies=proxies, ca=ca
        )
        return token, SOURCE_ATTACHMENT, url
    contract_token = _ua_token()
    if contract_token:
        token = contracts.get_resource_token(contract_token, default_url, proxies=proxies, ca=ca)
        return token, SOURCE_UA_RELATION, default_url
    raise ActionError(NOT_ATTACHED)


_SOURCE_WORDS = {
    SOURCE_PARAMETER: "the contract-token parameter",
    SOURCE_ATTACHMENT: "this machine's Ubuntu Pro attachment",
    SOURCE_UA_RELATION: "the contract token of the ua relation",
}


def get_resource_token():
    _require_leader("get-resource-token")
    try:
        options = validation.validate_options(
            hookenv.config(), ("contract_server_url", "contracts_ca", "http_proxy", "https_proxy", "no_proxy", "sync_token")
        )
    except validation.InvalidConfig as exc:
        raise ActionError(exc.status_message) from None
    proxies = contracts.proxies(options, os.environ)
    try:
        token, source, server = _fetch_resource_token(options, proxies)
    except contracts.ContractError as exc:
        raise ActionError(str(exc)) from None
    # Leader data reaches every unit, also units added later: one run is enough.
    leader.store_resource_token(token)
    server = contracts.shown(server)
    result = (
        f"resource token from {server}, got with {_SOURCE_WORDS[source]}, stored in leader data: "
        "every unit uses it as its sync token"
    )
    if options["sync_token"]:
        result += " (but the sync_token option is set and takes precedence)"
    hookenv.action_set({"result": result, "source": source, "contract-server": server})
    unit.run_reactive()  # the leader re-renders now; the others on leader-settings-changed


def schema_upgrade():
    _require_leader("schema-upgrade")
    _require_configured()
    try:
        before = schema.version()
        after = schema.upgrade()
    except schema.SchemaUnavailable as exc:
        raise ActionError(f"schema upgrade failed: {exc}") from None
    leader.record_schema_version(after.current)  # followers restart on leader-settings-changed
    hookenv.action_set(
        {"schema-version": str(after.current), "result": f"schema version {before.current} -> {after.current}"}
    )
    unit.run_reactive()


def schema_version():
    _require_configured()
    try:
        state = schema.version()
    except schema.SchemaUnavailable as exc:
        raise ActionError(f"cannot read the schema version: {exc}") from None
    hookenv.action_set(
        {
            "current": str(state.current),
            "required": str(state.required),
            "upgrade-required": "true" if state.upgrade_required else "false",
        }
    )


def _listening():
    """Where the service listens, from the config this charm rendered."""
    import yaml

    with open(paths.CONFIG_FILE, encoding="utf-8") as handle:
        rendered = yaml.safe_load(handle) or {}
    return network.local_address(rendered.get("bind_address")), int(rendered.get("port") or 8080)


def _require_not_paused():
    from charms.reactive import is_flag_set

    if is_flag_set(unit.PAUSED_FLAG):
        raise ActionError(
            "the unit is paused for a series upgrade: the service starts again when the upgrade "
            "completes (post-series-upgrade)"
        )


def restart():
    _require_not_paused()
    _require_configured()
    try:
        service.restart()
    except system.CommandFailed as exc:
        raise ActionError(str(exc)) from None
    health = service.wait_healthy(*_listening(), timeout=30)
    unit.run_reactive()  # refresh the unit's status
    if not health.ok:
        raise ActionError(f"livepatch restarted but is not healthy: {health.reason}")
    hookenv.action_set({"result": "livepatch restarted and healthy"})


ACTIONS = {
    "get-resource-token": get_resource_token,
    "schema-upgrade": schema_upgrade,
    "schema-version": schema_version,
    "restart": restart,
}


def main(name):
    action = ACTIONS.get(name)
    if action is None:
        hookenv.action_fail(f"unknown action {name}")
        return
    try:
        action()
    except ActionError as exc:
        hookenv.action_fail(str(exc))
    except Exception as exc:  # report, do not leave the operator with a bare traceback
        hookenv.log(f"action {name} failed:\n{traceback.format_exc()}", hookenv.ERROR)
        hookenv.action_fail(f"{name} failed: {exc.__class__.__name__}: {exc}")
