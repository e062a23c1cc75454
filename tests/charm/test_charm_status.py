"""Status precedence, exactly as docs/charm-README.md orders it."""

import pytest

from charms.livepatch.status import Facts, assess, needs_service_check


def healthy(**changes):
    facts = Facts(
        db_related=True,
        db_ready=True,
        schema_current=3,
        schema_required=3,
        sync_enabled=True,
        sync_token_set=True,
        service_active=True,
        health_ok=True,
        port=8080,
    )
    for key, value in changes.items():
        setattr(facts, key, value)
    return facts


def test_all_good_is_active():
    assert assess(healthy()) == ("active", "serving patches on :8080")
    assert assess(healthy(leader=True, port=9000)) == ("active", "serving patches on :9000 (leader)")


# Each row breaks one more thing than the row below it; the first broken one wins.
LADDER = [
    ({"config_problem": "url_template not set"}, ("blocked", "url_template not set")),
    ({"config_problem": "invalid config: port must be between 1 and 65535, not 0"},
     ("blocked", "invalid config: port must be between 1 and 65535, not 0")),
    ({"db_related": False}, ("blocked", "missing relation: database")),
    ({"db_ready": False}, ("waiting", "waiting for database")),
    ({"schema_current": 2}, ("blocked", "schema upgrade required: run the schema-upgrade action on the leader")),
    ({"sync_token_set": False}, ("blocked", "sync_token not set: run the get-resource-token action")),
    ({"busy": "restarting livepatch"}, ("maintenance", "restarting livepatch")),
    ({"health_ok": False, "health_reason": "HTTP 503"}, ("waiting", "service not ready: HTTP 503")),
]


@pytest.mark.parametrize("index", range(len(LADDER)))
def test_precedence(index):
    # break this row and every row below it: this row's status must win
    changes = {}
    for row_changes, _ in LADDER[index:]:
        for key, value in row_changes.items():
            changes.setdefault(key, value)
    assert assess(healthy(**changes)) == LADDER[index][1]


def test_url_template_beats_invalid_config():
    assert assess(healthy(config_problem="url_template not set", db_related=False))[1] == "url_template not set"


def test_sync_token_only_matters_when_sync_is_on():
    assert assess(healthy(sync_enabled=False, sync_token_set=False))[0] == "active"


def test_database_unreachable_is_waiting():
    assert assess(healthy(db_error="connection refused", schema_current=None)) == (
        "waiting", "waiting for database (unreachable)")


def test_empty_database_waits_for_the_leader_on_other_units():
    assert assess(healthy(schema_current=0)) == ("waiting", "waiting for the leader to initialise the database")
    assert assess(healthy(schema_current=0, leader=True))[1].startswith("schema upgrade required")


def test_schema_newer_than_the_charm():
    state, message = assess(healthy(schema_current=4))
    assert state == "blocked" and "upgrade the charm" in message


def test_service_down():
    assert assess(healthy(service_active=False, health_ok=None))[0] == "blocked"


def test_service_check_only_when_it_could_matter():
    assert needs_service_check(healthy(service_active=None, health_ok=None))
    assert not needs_service_check(healthy(schema_current=1, service_active=None, health_ok=None))
