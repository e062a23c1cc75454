"""Set-up for the charm's tests (lib/charms/livepatch, interfaces/, the built charm).

charmhelpers 1.2.1 (and so charms.reactive) refuses to import on Debian: its
platform check is case-sensitive. The units are Ubuntu; these tests say this
machine is too, and fake nothing else of charmhelpers. Helpers live in
charmtest.py.
"""

import os
import secrets
import sys
from unittest import mock

import pytest
from fakecontracts import FakeContracts

from charmtest import ROOT, FakeJuju, Machine, remember_reactive_registrations

sys.path.insert(0, os.path.join(ROOT, "lib"))

mock.patch("charmhelpers.osplatform.get_platform", return_value="ubuntu").start()

from charmhelpers.core import hookenv, unitdata  # noqa: E402

remember_reactive_registrations()


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
def juju(monkeypatch, tmp_path):
    """Juju around the unit livepatch/0 (the leader; JUJU_VERSION 3.4.5)."""
    fake = FakeJuju()
    fake.install(monkeypatch, str(tmp_path))
    return fake


@pytest.fixture
def machine(monkeypatch, tmp_path, juju):
    """The unit's machine: systemd, the charm's files, the schema CLI (schema 3 of 3)."""
    made = Machine(monkeypatch, str(tmp_path))
    juju.machine = made
    yield made
    made.close()


@pytest.fixture
def contracts_server():
    """The fake Ubuntu Pro contracts server (tests/fakecontracts.py) on a free loopback port;
    it knows no contract token yet (see contract_token)."""
    with FakeContracts() as fake:
        yield fake


@pytest.fixture
def contract_token(contracts_server):
    """A contract token (random) that contracts_server knows: it attaches machines and its
    contract grants livepatch-onprem."""
    return contracts_server.add_contract_token("contract-" + secrets.token_urlsafe(16)).token


@pytest.fixture
def pro_files(monkeypatch, tmp_path):
    """Where the charm looks for the Pro client's files: a folder of this test (empty: not
    attached; charmtest.pro_attach(pro_files, contracts_server, contract_token) attaches)."""
    from charms.livepatch import pro

    root = tmp_path / "pro-client"
    monkeypatch.setattr(pro, "MACHINE_TOKEN_FILE", str(root / "var/lib/ubuntu-advantage/private/machine-token.json"))
    monkeypatch.setattr(pro, "CLIENT_CONFIG_FILE", str(root / "etc/ubuntu-advantage/uaclient.conf"))
    return root


@pytest.fixture
def logs(monkeypatch):
    """The messages the charm logs (hookenv.log), in order."""
    lines = []
    monkeypatch.setattr(hookenv, "log", lambda message, level=None: lines.append(message))
    return lines
