"""The bundles against Juju's bundle rules and the real charms' metadata, and the
simulator's stand-ins against the same metadata.

REAL_CHARMS holds what the real charms declare (sources: the Ubuntu Pro charm's
charmcraft.yaml; Charmed PostgreSQL VM's metadata.yaml on tracks 14 and 16; the
haproxy charm's metadata.yaml). Juju's rules applied here: a subordinate
application has no units and no placement; every relation endpoint exists in its
charm's metadata, or is the `juju-info` endpoint that every principal charm
provides implicitly; the two ends share an interface and have opposite roles; a
subordinate needs a container-scoped relation to get any unit; an endpoint's
`limit` is not exceeded.
"""

import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUNDLES = ["bundle.yaml", "bundle-postgresql-db.yaml"]
STANDINS = os.path.join(ROOT, "tests", "jujusim", "charms")

IMPLICIT = {"juju-info": {"role": "provides", "interface": "juju-info", "scope": "global"}}

REAL_CHARMS = {
    # Ubuntu Pro charm: a subordinate whose only endpoint is juju-info (container).
    "ubuntu-advantage": {
        "subordinate": True,
        "endpoints": {
            "juju-info": {"role": "requires", "interface": "juju-info", "scope": "container"},
        },
    },
    # Charmed PostgreSQL VM, track 14: database (postgresql_client), db and db-admin (pgsql).
    ("postgresql", "14"): {
        "subordinate": False,
        "endpoints": {
            "database": {"role": "provides", "interface": "postgresql_client"},
            "db": {"role": "provides", "interface": "pgsql"},
            "db-admin": {"role": "provides", "interface": "pgsql"},
        },
    },
    # Track 16 dropped db and db-admin.
    ("postgresql", "16"): {
        "subordinate": False,
        "endpoints": {
            "database": {"role": "provides", "interface": "postgresql_client"},
        },
    },
    # haproxy: clients relate their website (http) to its reverseproxy.
    "haproxy": {
        "subordinate": False,
        "endpoints": {
            "reverseproxy": {"role": "requires", "interface": "http"},
            "website": {"role": "provides", "interface": "http"},
        },
    },
}


def load_yaml(*parts):
    with open(os.path.join(*parts)) as handle:
        return yaml.safe_load(handle)


def endpoints_of(metadata):
    out = {}
    for role in ("requires", "provides", "peers"):
        for name, spec in (metadata.get(role) or {}).items():
            out[name] = {"role": role, "interface": spec["interface"],
                         "scope": spec.get("scope", "global"), "limit": spec.get("limit")}
    return out


def charm_for(app_spec):
    """(subordinate, endpoints) of the charm an application deploys."""
    charm = app_spec["charm"]
    if charm.startswith("./") or charm.startswith("/"):
        # The local charm: the built one has the layer's metadata.yaml unchanged.
        metadata = load_yaml(ROOT, "metadata.yaml")
        return bool(metadata.get("subordinate")), endpoints_of(metadata)
    track = (app_spec.get("channel") or "").split("/")[0]
    real = REAL_CHARMS.get((charm, track)) or REAL_CHARMS.get(charm)
    assert real, f"no known metadata for charm {charm} (channel {app_spec.get('channel')})"
    endpoints = {name: {"scope": "global", "limit": None, **spec}
                 for name, spec in real["endpoints"].items()}
    return real["subordinate"], endpoints


def resolve(apps, charms, end):
    app, _, endpoint = end.partition(":")
    assert app in apps, f"relation names unknown application {app}"
    subordinate, endpoints = charms[app]
    if endpoint in endpoints:
        return app, endpoint, endpoints[endpoint]
    assert endpoint == "juju-info" and not subordinate, \
        f"{app} has no endpoint {endpoint!r} (it has {sorted(endpoints)})"
    return app, endpoint, {**IMPLICIT["juju-info"], "limit": None}


def check_bundle(bundle):
    """Juju's bundle rules; returns the resolved relations."""
    apps = bundle["applications"]
    charms = {name: charm_for(spec) for name, spec in apps.items()}
    for name, spec in apps.items():
        subordinate = charms[name][0]
        if subordinate:
            assert "num_units" not in spec and "to" not in spec, \
                f"{name}: a subordinate application must be deployed without units"
        else:
            assert spec.get("num_units", 0) >= 1, f"{name}: a principal needs units"
        if not spec["charm"].startswith(("./", "/")):
            assert spec.get("channel"), f"{name}: name a channel for a charm from Charmhub"
    resolved, uses = [], {}
    for pair in bundle["relations"]:
        assert len(pair) == 2 and all(":" in end for end in pair), f"name both endpoints: {pair}"
        (app_a, ep_a, a), (app_b, ep_b, b) = (resolve(apps, charms, end) for end in pair)
        assert app_a != app_b, f"{pair}: an application relates to itself only over peers"
        assert {a["role"], b["role"]} == {"requires", "provides"}, f"{pair}: roles {a['role']}/{b['role']}"
        assert a["interface"] == b["interface"], f"{pair}: interfaces {a['interface']} != {b['interface']}"
        container = "container" in (a["scope"], b["scope"])
        for app, endpoint, spec in ((app_a, ep_a, a), (app_b, ep_b, b)):
            uses[(app, endpoint)] = uses.get((app, endpoint), 0) + 1
            if spec["limit"]:
                assert uses[(app, endpoint)] <= spec["limit"], f"{app}:{endpoint} over its limit"
        resolved.append(((app_a, ep_a), (app_b, ep_b), container))
    for name, (subordinate, _) in charms.items():
        if subordinate:
            assert any(container and name in (a[0], b[0]) for a, b, container in resolved), \
                f"{name}: a subordinate without a container-scoped relation gets no units"
    return resolved


@pytest.mark.parametrize("name", BUNDLES)
def test_bundle_follows_jujus_rules(name):
    check_bundle(load_yaml(ROOT, name))


def test_bundle_relates_the_database_over_today_endpoint_and_ua_as_subordinate():
    relations = {frozenset((a, b)) for a, b, _ in check_bundle(load_yaml(ROOT, "bundle.yaml"))}
    assert frozenset((("livepatch", "database"), ("postgresql", "database"))) in relations
    assert frozenset((("ubuntu-advantage", "juju-info"), ("livepatch", "juju-info"))) in relations
    assert frozenset((("livepatch", "website"), ("haproxy", "reverseproxy"))) in relations
    legacy = {frozenset((a, b)) for a, b, _ in check_bundle(load_yaml(ROOT, "bundle-postgresql-db.yaml"))}
    assert frozenset((("livepatch", "db"), ("postgresql", "db"))) in legacy


def test_rules_catch_what_juju_refuses():
    """The checker itself fails on the mistakes the old bundle made."""
    bundle = load_yaml(ROOT, "bundle.yaml")
    bundle["applications"]["ubuntu-advantage"]["num_units"] = 1
    with pytest.raises(AssertionError, match="without units"):
        check_bundle(bundle)
    bundle = load_yaml(ROOT, "bundle.yaml")
    bundle["relations"].append(["livepatch:ua", "ubuntu-advantage:ua"])
    with pytest.raises(AssertionError, match="no endpoint 'ua'"):
        check_bundle(bundle)
    bundle = load_yaml(ROOT, "bundle.yaml")
    bundle["applications"]["postgresql"]["channel"] = "16/edge"
    bundle["relations"][0] = ["livepatch:db", "postgresql:db"]
    with pytest.raises(AssertionError, match="no endpoint 'db'"):
        check_bundle(bundle)


@pytest.mark.parametrize("name", ["ubuntu-advantage", "postgresql", "haproxy"])
def test_standins_declare_what_the_real_charms_declare(name):
    """A stand-in that differs from the real charm's metadata would let a bundle or a
    relation pass here that Juju refuses."""
    metadata = load_yaml(STANDINS, name, "metadata.yaml")
    real = REAL_CHARMS.get(name) or REAL_CHARMS[(name, "14")]  # the stand-in plays track 14
    assert bool(metadata.get("subordinate")) == real["subordinate"]
    declared = endpoints_of(metadata)
    for endpoint, spec in real["endpoints"].items():
        assert endpoint in declared, f"stand-in {name} lacks {endpoint}"
        got = declared[endpoint]
        assert (got["role"], got["interface"], got["scope"]) == \
            (spec["role"], spec["interface"], spec.get("scope", "global")), (name, endpoint)
