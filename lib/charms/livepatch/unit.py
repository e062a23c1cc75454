"""One unit's life: install, converge on every hook, pause, remove.

converge() is idempotent: it renders everything from config, relation data
and leader data, writes only what changed and restarts only when the result
changed, so running it in every hook (update-status included) is cheap and
heals drift.
"""

import hashlib
import os
from importlib import metadata

from charmhelpers.core import hookenv, unitdata
from charms.reactive.helpers import data_changed

from . import bootstrap, contracts, leader, network, paths, patchstore, render, schema, service, status, system, validation
from . import website as website_services

PAUSED_FLAG = "livepatch.paused"  # set between pre- and post-series-upgrade
RESTART_KEY = "livepatch.restart-inputs"
UNIT_FILE_KEY = "livepatch.unit-file"
IGNORED_KEY = "livepatch.ignored-options"  # {option: value hash} already logged
SERVER_DIST = "livepatch-app"


def server_version():
    try:
        return metadata.version(SERVER_DIST)
    except metadata.PackageNotFoundError:
        return "unknown"


def install():
    """install, and again after upgrade-charm (the reactive handler clears the flag)."""
    status.set_status("maintenance", "installing")
    patchstore.forget()  # after an upgrade from the legacy charm: import the patch files it left
    system.ensure_user()
    hookenv.application_version_set(server_version())


def converge(db, database, website, paused=False):
    """Bring the unit to what config, relations and leader data ask for -> (state, message).

    db: the pgsql requires endpoint (legacy); database: the postgresql_client
    requires endpoint; website: the http provides endpoint. paused: between
    pre- and post-series-upgrade: nothing is touched, the service stays
    stopped, and the status says so.
    """
    facts = status.Facts(paused=paused)
    if paused:
        return status.assess(facts)
    raw = hookenv.config()
    facts.leader = hookenv.is_leader()
    resource_token = leader.resource_token()
    facts.sync_enabled, facts.sync_token_set = _sync_state(raw, resource_token)
    try:
        settings = validation.validate(raw)
    except validation.InvalidConfig as exc:
        # The running service (if any) keeps its last good config.
        hookenv.log("config problems: " + "; ".join(exc.problems), hookenv.WARNING)
        facts.config_problem = exc.status_message
        facts.unsupported_store = exc.unsupported_store
        return status.assess(facts)
    facts.port = settings["port"]
    facts.ignored_options = len(log_ignored_options(raw))

    related = [name for name, endpoint in (("db", db), ("database", database)) if _related(endpoint)]
    facts.db_related = bool(related)
    facts.db_both = len(related) > 1
    # The postgresql charm blocks on roles asked over db (real-charms-facts §5a).
    facts.roles_over_db = related == ["db"] and bool(settings["psql_roles"])
    if not facts.db_related:
        _stop_if_running()  # without a database there is nothing to serve
        return status.assess(facts)
    if facts.db_both or facts.roles_over_db:
        # Ask nothing until the operator chose; a running service keeps its database.
        return status.assess(facts)
    dsn = _database_dsn(settings, database) if related == ["database"] else _legacy_dsn(settings, db)
    facts.db_ready = bool(dsn)
    if not dsn:
        return status.assess(facts)

    addresses = network.endpoint_addresses("website")
    listen = network.listen_address(addresses.bind, settings["listen_on_all_addresses"])
    proxies = website.proxy_addresses() if website is not None else []
    config_text, unit_text = _render(settings, dsn, listen, facts.leader, resource_token, proxies)
    if patchstore.pending(settings) and not _move_patch_store(settings, config_text, facts):
        return status.assess(facts)  # nothing written: the service keeps its store
    _write(settings, config_text, unit_text)

    try:
        state = _schema(facts.leader)
    except schema.SchemaUnavailable as exc:
        hookenv.log(f"cannot read the database schema: {exc}", hookenv.WARNING)
        facts.db_error = str(exc)
        return status.assess(facts)
    facts.schema_current, facts.schema_required = state

    restarted = _restart_if_needed(config_text, unit_text)
    network.expose(settings["port"])
    if website is not None and website.relations:
        # haproxy reads port and private-address; the ingress address is how it reaches us.
        services = website_services.haproxy_services(hookenv.local_unit(), addresses.ingress, settings["port"])
        website.configure(
            settings["port"], private_address=addresses.ingress, hostname=addresses.ingress, services=services
        )

    if status.needs_service_check(facts):
        facts.service_active = service.is_active()
        if facts.service_active:
            # Right after a restart the server needs a moment to listen.
            health = service.wait_healthy(
                network.local_address(listen), settings["port"], timeout=30 if restarted else 3
            )
            facts.health_ok, facts.health_reason = health.ok, health.reason
    return status.assess(facts)


def log_ignored_options(raw):
    """Log each legacy option set here to no effect, once per change of its value
    (validation.IGNORED) -> {name: why} of all such options now."""
    ignored = validation.ignored_options(raw)
    store = unitdata.kv()
    logged = store.get(IGNORED_KEY) or {}
    now = {}
    for name, why in ignored.items():
        # A hash, not the value: some are secrets (s3_secret_key, event_bus_client_key...).
        now[name] = hashlib.sha256(repr(raw.get(name)).encode("utf-8")).hexdigest()
        if logged.get(name) != now[name]:
            hookenv.log(f"legacy option {name} is set but has no effect here: {why}", hookenv.WARNING)
    if now != logged:
        store.set(IGNORED_KEY, now)
    return ignored


def _sync_state(raw, resource_token):
    """(sync on, sync token there), from the two options alone: checked before the rest
    of the config, so that a fresh unit first asks for the token."""
    try:
        options = validation.validate_options(raw, ("patch_sync_enabled", "sync_token"))
    except validation.InvalidConfig:
        return False, False  # the config problem is reported instead
    return options["patch_sync_enabled"], bool(options["sync_token"] or resource_token)


def _database_dsn(settings, database):
    """Ask over database (postgresql_client; the leader asks); the connection string, or None."""
    database.request(settings["psql_dbname"], roles=settings["psql_roles"])
    return database.dsn(settings["psql_dbname"])


def _legacy_dsn(settings, db):
    """Ask over db (pgsql; never with roles); the primary's connection string, or None."""
    db.set_database(settings["psql_dbname"])
    return db.master


def _related(endpoint):
    """Whether the endpoint has a relation that is not being removed in this very hook."""
    if endpoint is None:
        return False
    # In <endpoint>-relation-broken Juju still lists the dying relation.
    broken = hookenv.relation_id() if hookenv.hook_name() == f"{endpoint.endpoint_name}-relation-broken" else None
    return any(relation.relation_id != broken for relation in endpoint.relations)


def _render(settings, dsn, listen, is_leader, resource_token, proxies):
    charm = hookenv.charm_dir()
    unit_name = hookenv.local_unit()
    # Sync goes through the charm's proxies, else the model's (as contracts calls do).
    settings = dict(settings, **{f"{key}_proxy": value for key, value in
                                 contracts.proxies(settings, os.environ).items()})
    config_context = render.config_context(
        settings,
        database_url=dsn,
        bind_address=listen,
        leader=is_leader,
        deployment_id=os.environ.get("JUJU_MODEL_UUID", ""),
        resource_token=resource_token,
        unit_name=unit_name,
        proxy_addresses=proxies,
    )
    unit_context = render.unit_context(settings, python=paths.venv_python(charm), unit_name=unit_name)
    templates = paths.templates_dir(charm)
    return render.server_config(config_context, templates), render.systemd_unit(unit_context, templates)


def _write(settings, config_text, unit_text):
    system.ensure_dir(paths.CONFIG_DIR, paths.ADMIN, paths.GROUP, 0o750)
    system.ensure_dir(paths.STATE_DIR, paths.USER, paths.GROUP, 0o750)
    if settings["patchstore"] in ("filesystem", "file"):
        system.ensure_dir(settings["filestore_path"], paths.USER, paths.GROUP, 0o750)
    if settings["patch_cache_on"]:
        system.ensure_dir(paths.CACHE_DIR, paths.USER, paths.GROUP, 0o750)
    # 0640 root:livepatch: the file holds the database password.
    system.write_file(paths.CONFIG_FILE, config_text, paths.ADMIN, paths.GROUP, 0o640)
    written = system.write_file(paths.UNIT_FILE, unit_text, paths.ADMIN, paths.ADMIN_GROUP, 0o644)
    # data_changed also covers a hook that died after writing, before the reload.
    if data_changed(UNIT_FILE_KEY, unit_text) or written:
        service.daemon_reload()
        service.enable()


def _move_patch_store(settings, config_text, facts):
    """Every patch onto the store config_text names, before the service is given it
    (patchstore.py) -> whether converge may go on; False with facts saying why."""
    if settings["patchstore"] in ("filesystem", "file"):
        system.ensure_dir(settings["filestore_path"], paths.USER, paths.GROUP, 0o750)
    next_file = patchstore.write_next_config(config_text)
    try:
        try:
            state = schema.version(config_file=next_file)
        except schema.SchemaUnavailable as exc:
            hookenv.log(f"cannot read the database schema: {exc}", hookenv.WARNING)
            facts.db_error = str(exc)
            return False
        if state.empty:
            return True  # a fresh database holds no patch yet: the move runs once it is set up
        facts.schema_current, facts.schema_required = state
        if state.upgrade_required or state.ahead:
            return False
        kind = patchstore.target(settings)[0]
        status.set_status("maintenance", f"moving patches onto the {kind} store")
        try:
            patchstore.move(settings, next_file)
        except patchstore.MoveFailed as exc:
            facts.store_problem = status.STORE_NOT_MOVED.format(store=kind, why=exc)
            return False
        patchstore.record(settings)
        return True
    finally:
        os.remove(next_file)


def _schema(is_leader):
    state = schema.version()
    if is_leader and state.empty and state.required:
        # A fresh database: the leader sets it up. Later upgrades wait for the operator.
        status.set_status("maintenance", "initialising the database schema")
        state = schema.upgrade()
    if is_leader and not state.upgrade_required and not state.ahead:
        leader.record_schema_version(state.current)
    return schema.SchemaState(*state)


def _restart_if_needed(config_text, unit_text):
    """Restart when what the service runs with changed: config, unit, venv, schema."""
    inputs = "\0".join([config_text, unit_text, bootstrap.venv_id(), leader.schema_version()])
    changed = data_changed(RESTART_KEY, hashlib.sha256(inputs.encode("utf-8")).hexdigest())
    if not changed and service.is_active():
        return False
    status.set_status("maintenance", "restarting livepatch")
    service.restart()
    return True


def _stop_if_running():
    if service.is_active():
        status.set_status("maintenance", "stopping livepatch: no database")
        service.stop()


def pause():
    """pre-series-upgrade: stop and disable the service until resume() -> (state, message).

    The caller keeps the unit paused (a flag) so that no hook starts it again
    while the machine's OS is being upgraded.
    """
    if service.is_active():
        service.stop()
    if os.path.exists(paths.UNIT_FILE):
        service.disable()
    return status.assess(status.Facts(paused=True))


def resume():
    """post-series-upgrade: enable and start the service again, if it was set up.

    The hook's bootstrap has already rebuilt the venv for the new Python
    (bootstrap.REBUILD_HOOKS); converge() restarts the service on it.
    """
    if os.path.exists(paths.UNIT_FILE):
        service.daemon_reload()
        service.enable()
        service.start()


def remove():
    """The unit is going away: stop and remove the service and its secrets."""
    if service.is_active():
        service.stop()
    try:
        service.disable()
    except system.CommandFailed as exc:
        hookenv.log(f"disabling livepatch: {exc}", hookenv.DEBUG)
    for path in (paths.UNIT_FILE, paths.CONFIG_FILE):
        if os.path.exists(path):
            os.remove(path)
    service.daemon_reload()
    network.unexpose()


def run_reactive():
    """Let the reactive handlers converge the unit (used by actions after they change things)."""
    from charms.reactive import main

    from . import configflags

    configflags.register()
    main()
