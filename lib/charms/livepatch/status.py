"""Unit status: the facts gathered in a hook -> one (state, message), in the
precedence that docs/charm-README.md documents.

1. blocked      url_template not set / invalid config: <what>
2. blocked      missing relation: database
3. waiting      waiting for database / waiting for database (unreachable)
4. waiting      waiting for the leader to initialise the database (non-leaders, empty db)
5. blocked      schema upgrade required: run the schema-upgrade action on the leader
6. blocked      database schema N is newer than this charm's (M): upgrade the charm
7. blocked      sync_token not set: run the get-resource-token action
8. maintenance  what the unit is busy with
9. blocked      livepatch service not running: see journalctl -u livepatch
10. waiting     service not ready: <why>
11. active      serving patches on :<port> [(leader)], once the health check passes
"""

from dataclasses import dataclass
from typing import Optional

from charmhelpers.core import hookenv

SCHEMA_UPGRADE = "schema upgrade required: run the schema-upgrade action on the leader"
SYNC_TOKEN_MISSING = "sync_token not set: run the get-resource-token action"


@dataclass
class Facts:
    config_problem: Optional[str] = None  # InvalidConfig.status_message
    db_related: bool = False
    db_ready: bool = False
    db_error: Optional[str] = None  # the database answered nothing sensible
    schema_current: Optional[int] = None
    schema_required: Optional[int] = None
    leader: bool = False
    sync_enabled: bool = False
    sync_token_set: bool = False
    busy: Optional[str] = None  # maintenance message
    service_active: Optional[bool] = None  # None: not checked
    health_ok: Optional[bool] = None  # None: not checked
    health_reason: str = ""
    port: Optional[int] = None


def assess(facts):
    """(state, message) for the first problem in precedence order; pure."""
    if facts.config_problem:
        return "blocked", facts.config_problem
    if not facts.db_related:
        return "blocked", "missing relation: database"
    if not facts.db_ready:
        return "waiting", "waiting for database"
    if facts.db_error or facts.schema_current is None:
        return "waiting", "waiting for database (unreachable)"
    if facts.schema_current == 0 and facts.schema_required and not facts.leader:
        return "waiting", "waiting for the leader to initialise the database"
    if facts.schema_current < (facts.schema_required or 0):
        return "blocked", SCHEMA_UPGRADE
    if facts.schema_current > (facts.schema_required or 0):
        return "blocked", (
            f"database schema {facts.schema_current} is newer than this charm's "
            f"({facts.schema_required}): upgrade the charm"
        )
    if facts.sync_enabled and not facts.sync_token_set:
        return "blocked", SYNC_TOKEN_MISSING
    if facts.busy:
        return "maintenance", facts.busy
    if facts.service_active is False:
        return "blocked", "livepatch service not running: see journalctl -u livepatch"
    if facts.health_ok is False:
        return "waiting", f"service not ready: {facts.health_reason}"
    suffix = " (leader)" if facts.leader else ""
    return "active", f"serving patches on :{facts.port}{suffix}"


def needs_service_check(facts):
    """Whether the service's state could still decide the status (skip the check otherwise)."""
    state, _ = assess(facts)
    return state == "active"


def set_status(state, message):
    hookenv.status_set(state, message)
