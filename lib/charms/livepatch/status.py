"""Unit status: the facts gathered in a hook -> one (state, message).

PRECEDENCE lists every status assess() can give, first match wins; <...> marks
a variable part, [...] an optional one. docs/charm-README.md's status table lists exactly these rows
in this order (tests/charm/test_charm_status.py compares the two).
"""

from dataclasses import dataclass
from typing import Optional

from charmhelpers.core import hookenv

PAUSED = "series upgrade in progress: run post-series-upgrade when done"
URL_TEMPLATE_MISSING = "url_template not set"  # = validation.URL_TEMPLATE_MISSING
BOTH_DATABASES = "related to PostgreSQL over both db and database: remove the db relation"
NO_DATABASE = "missing relation: database"
ROLES_OVER_DB = "psql_roles cannot be granted over db: use the database relation instead"
WAITING_DATABASE = "waiting for database"
DATABASE_UNREACHABLE = "waiting for database (unreachable)"
WAITING_LEADER = "waiting for the leader to initialise the database"
SCHEMA_UPGRADE = "schema upgrade required: run the schema-upgrade action on the leader"
SYNC_TOKEN_MISSING = "sync_token not set: run the get-resource-token action"
SERVICE_DOWN = "livepatch service not running: see journalctl -u livepatch"
# The legacy charm's object stores (real-charms-facts section 1): nothing here can serve
# them, and the patches they hold come back by sync or through the import folder.
UNSUPPORTED_STORE = (
    "patchstore {store} is not supported: set patchstore=postgres (or filesystem); "
    "patches return by sync or the import folder"
)
# The unit's patches could not all be brought onto the store config asks for
# (docs/migration.md): nothing changed, the service serves from the old one.
STORE_NOT_MOVED = (
    "patchstore {store} not applied: {why}, see juju debug-log; "
    "still serving from the previous store"
)

PRECEDENCE = (
    ("blocked", PAUSED),
    # First on a fresh deployment, as with the legacy charm (real-charms-facts §8): the
    # action needs neither url_template nor the database.
    ("blocked", SYNC_TOKEN_MISSING),
    ("blocked", UNSUPPORTED_STORE.format(store="<s3 or swift>")),
    ("blocked", URL_TEMPLATE_MISSING),
    ("blocked", "invalid config: <what>"),
    ("blocked", BOTH_DATABASES),
    ("blocked", NO_DATABASE),
    ("blocked", ROLES_OVER_DB),
    ("waiting", WAITING_DATABASE),
    ("waiting", DATABASE_UNREACHABLE),
    ("waiting", WAITING_LEADER),
    ("blocked", SCHEMA_UPGRADE),
    ("blocked", "database schema <N> is newer than this charm's (<M>): upgrade the charm"),
    ("blocked", STORE_NOT_MOVED.format(store="<postgres or filesystem>", why="<why>")),
    ("maintenance", "<what the unit is doing>"),
    ("blocked", SERVICE_DOWN),
    ("waiting", "service not ready: <why>"),
    ("active", "serving patches on :<port>[ (leader)][, <N> legacy option(s) ignored: see juju debug-log]"),
)


@dataclass
class Facts:
    paused: bool = False  # between pre- and post-series-upgrade
    config_problem: Optional[str] = None  # InvalidConfig.status_message
    unsupported_store: Optional[str] = None  # patchstore s3 or swift
    ignored_options: int = 0  # legacy options set here to no effect (validation.IGNORED)
    db_related: bool = False  # over db or database
    db_both: bool = False  # over db and database at once
    roles_over_db: bool = False  # psql_roles set while related over db
    db_ready: bool = False
    db_error: Optional[str] = None  # the database answered nothing sensible
    schema_current: Optional[int] = None
    schema_required: Optional[int] = None
    leader: bool = False
    sync_enabled: bool = False
    sync_token_set: bool = False
    store_problem: Optional[str] = None  # STORE_NOT_MOVED: the patch store move failed
    busy: Optional[str] = None  # maintenance message
    service_active: Optional[bool] = None  # None: not checked
    health_ok: Optional[bool] = None  # None: not checked
    health_reason: str = ""
    port: Optional[int] = None


def assess(facts):
    """(state, message) for the first problem in PRECEDENCE order; pure."""
    if facts.paused:
        return "blocked", PAUSED
    if facts.sync_enabled and not facts.sync_token_set:
        return "blocked", SYNC_TOKEN_MISSING
    if facts.unsupported_store:
        return "blocked", UNSUPPORTED_STORE.format(store=facts.unsupported_store)
    if facts.config_problem:
        return "blocked", facts.config_problem
    if facts.db_both:
        return "blocked", BOTH_DATABASES
    if not facts.db_related:
        return "blocked", NO_DATABASE
    if facts.roles_over_db:
        return "blocked", ROLES_OVER_DB
    if not facts.db_ready:
        return "waiting", WAITING_DATABASE
    if facts.db_error or facts.schema_current is None:
        return "waiting", DATABASE_UNREACHABLE
    if facts.schema_current == 0 and facts.schema_required and not facts.leader:
        return "waiting", WAITING_LEADER
    if facts.schema_current < (facts.schema_required or 0):
        return "blocked", SCHEMA_UPGRADE
    if facts.schema_current > (facts.schema_required or 0):
        return "blocked", (
            f"database schema {facts.schema_current} is newer than this charm's "
            f"({facts.schema_required}): upgrade the charm"
        )
    if facts.store_problem:
        return "blocked", facts.store_problem
    if facts.busy:
        return "maintenance", facts.busy
    if facts.service_active is False:
        return "blocked", SERVICE_DOWN
    if facts.health_ok is False:
        return "waiting", f"service not ready: {facts.health_reason}"
    suffix = " (leader)" if facts.leader else ""
    if facts.ignored_options:
        options = "option" if facts.ignored_options == 1 else "options"
        suffix += f", {facts.ignored_options} legacy {options} ignored: see juju debug-log"
    return "active", f"serving patches on :{facts.port}{suffix}"


def needs_service_check(facts):
    """Whether the service's state could still decide the status (skip the check otherwise)."""
    state, _ = assess(facts)
    return state == "active"


def set_status(state, message):
    hookenv.status_set(state, message)
