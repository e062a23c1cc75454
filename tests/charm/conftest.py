"""Set-up for the charm's tests (lib/charms/livepatch, interfaces/, the built charm).

charmhelpers 1.2.1 (and so charms.reactive) refuses to import on Debian: its
platform check is case-sensitive. The units are Ubuntu; these tests say this
machine is too, and fake nothing else of charmhelpers. Helpers live in
charmtest.py.
"""

import os
import sys
import threading
from unittest import mock

import pytest

from charmtest import ROOT, Contracts, FakeJuju

sys.path.insert(0, os.path.join(ROOT, "lib"))

mock.patch("charmhelpers.osplatform.get_platform", return_value="ubuntu").start()

from charmhelpers.core import hookenv, unitdata  # noqa: E402


@pytest.fixture(autouse=True)
def unit_state(monkeypatch):
    """Flags and data_changed live in unitdata: a fresh in-memory store per test.

    Through monkeypatch, not os.environ at import: the simulator's tests run in the
    same pytest process and their hooks must not inherit these.
    """
    monkeypatch.setenv("UNIT_STATE_DB", ":memory:")
    monkeypatch.setenv("JUJU_UNIT_NAME", "livepatch/0")
    monkeypatch.setattr(unitdata, "_KV", None)


@pytest.fixture
def juju(monkeypatch):
    fake = FakeJuju()
    for name in ("relation_ids", "related_units", "relation_get", "relation_set"):
        monkeypatch.setattr(hookenv, name, getattr(fake, name))
    monkeypatch.setattr(hookenv, "local_unit", lambda: fake.unit)  # tests switch sides
    monkeypatch.setattr(hookenv, "is_leader", lambda: fake.leader)
    monkeypatch.setattr(hookenv, "log", lambda *args, **kwargs: None)
    return fake


@pytest.fixture
def contracts_server():
    httpd = Contracts()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
