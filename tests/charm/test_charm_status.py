"""Status precedence: assess() gives exactly the rows of status.PRECEDENCE, in that
order, and docs/charm-README.md's status table lists exactly those rows."""

import os
import re

import pytest

from charms.livepatch.status import PRECEDENCE, Facts, assess, needs_service_check
from charmtest import ROOT


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


# One example per PRECEDENCE row, in its order. Each row breaks one more thing than the
# rows below it; the first broken one wins.
LADDER = [
    ({"paused": True}, ("blocked", "series upgrade in progress: run post-series-upgrade when done")),
    ({"sync_token_set": False}, ("blocked", "sync_token not set: run the get-resource-token action")),
    ({"unsupported_store": "s3"},
     ("blocked", "patchstore s3 is not supported: set patchstore=postgres (or filesystem); "
                 "patches return by sync or the import folder")),
    ({"config_problem": "url_template not set"}, ("blocked", "url_template not set")),
    ({"config_problem": "invalid config: port must be between 1 and 65535, not 0"},
     ("blocked", "invalid config: port must be between 1 and 65535, not 0")),
    ({"db_both": True},
     ("blocked", "related to PostgreSQL over both db and database: remove the db relation")),
    ({"db_related": False}, ("blocked", "missing relation: database")),
    ({"roles_over_db": True},
     ("blocked", "psql_roles cannot be granted over db: use the database relation instead")),
    ({"db_ready": False}, ("waiting", "waiting for database")),
    ({"db_error": "connection refused", "schema_current": None}, ("waiting", "waiting for database (unreachable)")),
    ({"schema_current": 0}, ("waiting", "waiting for the leader to initialise the database")),
    ({"schema_current": 2}, ("blocked", "schema upgrade required: run the schema-upgrade action on the leader")),
    ({"schema_current": 4}, ("blocked", "database schema 4 is newer than this charm's (3): upgrade the charm")),
    ({"store_problem": "patchstore postgres not applied: 2 patches could not be moved, see juju debug-log; "
                       "still serving from the previous store"},
     ("blocked", "patchstore postgres not applied: 2 patches could not be moved, see juju debug-log; "
                 "still serving from the previous store")),
    ({"busy": "restarting livepatch"}, ("maintenance", "restarting livepatch")),
    ({"service_active": False}, ("blocked", "livepatch service not running: see journalctl -u livepatch")),
    ({"health_ok": False, "health_reason": "HTTP 503"}, ("waiting", "service not ready: HTTP 503")),
    ({}, ("active", "serving patches on :8080")),
]


@pytest.mark.parametrize("index", range(len(LADDER)))
def test_precedence(index):
    # break this row and every row below it: this row's status must win
    changes = {}
    for row_changes, _ in LADDER[index:]:
        for key, value in row_changes.items():
            changes.setdefault(key, value)
    assert assess(healthy(**changes)) == LADDER[index][1]


def template_regex(template):
    """<...> is a variable part, [...] an optional one."""
    pattern = ""
    for part in re.split(r"(<[^>]+>|\[[^\]]+\])", template):
        if part.startswith("<"):
            pattern += ".+"
        elif part.startswith("["):
            pattern += "(?:" + re.escape(part[1:-1]) + ")?"
        else:
            pattern += re.escape(part)
    return re.compile(pattern + r"\Z")


def test_each_status_is_its_precedence_row():
    assert len(LADDER) == len(PRECEDENCE)
    for (_, (state, message)), (row_state, template) in zip(LADDER, PRECEDENCE):
        assert state == row_state and template_regex(template).match(message), (message, template)
    assert template_regex(PRECEDENCE[-1][1]).match("serving patches on :8080 (leader)")


def guide_status_rows():
    """(state, message) of each row of the status table in docs/charm-README.md."""
    with open(os.path.join(ROOT, "docs", "charm-README.md")) as handle:
        text = handle.read()
    section = text.split("\n## Status\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        match = re.match(r"^\|\s*(\w+)\s*\|\s*`([^`]+)`\s*\|", line)
        if match:
            rows.append((match[1], match[2]))
    return rows


def test_the_guide_lists_exactly_these_statuses_in_this_order():
    assert guide_status_rows() == list(PRECEDENCE)


def test_url_template_beats_invalid_config():
    assert assess(healthy(config_problem="url_template not set", db_related=False))[1] == "url_template not set"


def test_paused_beats_everything():
    assert assess(healthy(paused=True, config_problem="url_template not set", db_both=True))[1].startswith(
        "series upgrade in progress")


def test_sync_token_only_matters_when_sync_is_on():
    assert assess(healthy(sync_enabled=False, sync_token_set=False))[0] == "active"


def test_empty_database_waits_for_the_leader_on_other_units():
    assert assess(healthy(schema_current=0, leader=True))[1].startswith("schema upgrade required")


def test_service_down():
    assert assess(healthy(service_active=False, health_ok=None))[0] == "blocked"


def test_service_check_only_when_it_could_matter():
    assert needs_service_check(healthy(service_active=None, health_ok=None))
    assert not needs_service_check(healthy(schema_current=1, service_active=None, health_ok=None))
    assert not needs_service_check(healthy(paused=True, service_active=None, health_ok=None))


def test_ignored_legacy_options_are_a_note_in_the_active_status():
    assert assess(healthy(ignored_options=1)) == (
        "active", "serving patches on :8080, 1 legacy option ignored: see juju debug-log")
    assert assess(healthy(ignored_options=2, leader=True)) == (
        "active", "serving patches on :8080 (leader), 2 legacy options ignored: see juju debug-log")
    assert template_regex(PRECEDENCE[-1][1]).match(assess(healthy(ignored_options=2, leader=True))[1])
    # not a problem: nothing else changes
    assert assess(healthy(ignored_options=3, service_active=False))[0] == "blocked"
