"""Shared set-up for the charm's tests (lib/charms/livepatch, interfaces/, the built charm).

charmhelpers 1.2.1 (and so charms.reactive) refuses to import on Debian: its
platform check is case-sensitive. The units are Ubuntu; these tests say this
machine is too, and fake nothing else of charmhelpers.

Relation data for the interface tests comes from FakeJuju, a stand-in for the
hook tools behind charmhelpers.core.hookenv (the environment, not the code under
test): the Endpoint classes run unchanged on top of it.
"""

import importlib.util
import os
import sys
from unittest import mock

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
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


def load_interface(name, role):
    """Import interfaces/<name>/<role>.py as the package charm build makes of it."""
    package = f"relations.{name}"
    folder = os.path.join(ROOT, "interfaces", name)
    for pkg, path in (("relations", os.path.join(ROOT, "interfaces")), (package, folder)):
        if pkg not in sys.modules:
            spec = importlib.util.spec_from_loader(pkg, loader=None, is_package=True)
            module = importlib.util.module_from_spec(spec)
            module.__path__ = [path]
            sys.modules[pkg] = module
    spec = importlib.util.spec_from_file_location(f"{package}.{role}", os.path.join(folder, f"{role}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class FakeJuju:
    """Relation data as Juju's hook tools would return it, for one local unit."""

    def __init__(self, unit="livepatch/0", leader=True):
        self.unit = unit
        self.leader = leader
        self.relations = {}

    @property
    def app(self):
        return self.unit.split("/")[0]

    def relate(self, rid, units, app_data=None, local=None):
        """units: {remote unit name: its data}; local: our unit's own settings."""
        self.relations[rid] = {
            "units": {name: dict(data) for name, data in units.items()},
            "app_data": dict(app_data or {}),
            "local": dict(local or {}),
            "local_app": {},
        }
        return rid

    # the hookenv functions the Endpoint classes use
    def relation_ids(self, reltype=None):
        return sorted(rid for rid in self.relations if reltype is None or rid.split(":")[0] == reltype)

    def related_units(self, relid=None):
        return sorted(self.relations[relid]["units"])

    def relation_get(self, attribute=None, unit=None, rid=None, app=None):
        relation = self.relations[rid]
        if app is not None:
            data = relation["local_app"] if app == self.app else relation["app_data"]
        elif unit == self.unit:
            data = relation["local"]
        else:
            data = relation["units"].get(unit, {})
        data = dict(data)
        return data if attribute in (None, "-") else data.get(attribute)

    def relation_set(self, relation_id=None, relation_settings=None, app=False, **kwargs):
        if app and not self.leader:
            raise RuntimeError("relation-set --app: not the leader")
        settings = dict(relation_settings or {}, **kwargs)
        target = self.relations[relation_id]["local_app" if app else "local"]
        for key, value in settings.items():
            if value in (None, ""):
                target.pop(key, None)
            else:
                target[key] = value

    def published(self, rid, app=False):
        return self.relations[rid]["local_app" if app else "local"]


@pytest.fixture
def juju(monkeypatch):
    fake = FakeJuju()
    for name in ("relation_ids", "related_units", "relation_get", "relation_set"):
        monkeypatch.setattr(hookenv, name, getattr(fake, name))
    monkeypatch.setattr(hookenv, "local_unit", lambda: fake.unit)  # tests switch sides
    monkeypatch.setattr(hookenv, "is_leader", lambda: fake.leader)
    monkeypatch.setattr(hookenv, "log", lambda *args, **kwargs: None)
    return fake


def flush(endpoint):
    """What charms.reactive does at the end of a hook: publish changed data."""
    for relation in endpoint.relations:
        relation._flush_data()
