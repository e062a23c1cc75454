"""The seed's flow on the other database set-ups of today's PostgreSQL charm, under
jujusim with the BUILT charm:

- PostgreSQL 14 over the legacy `db` (pgsql) endpoint, as bundle-postgresql-db.yaml
  deploys it; `psql_roles` cannot be granted there and the unit says so.
- PostgreSQL 16 on Juju 3: only the `database` endpoint, the credentials handed over
  as Juju secrets; every machine's ingress address is a floating one that is not
  its own, so the service must listen on its bind address and publish the ingress one.
"""

import os
import tempfile

import pytest
import yaml

from e2ehelpers import (BUNDLE, BUNDLE_DB, CHARM, PATCH, curl, haproxy, seed_flow, simulated_model, statuses,
                        sync_now)

pytestmark = pytest.mark.e2e


def synced_and_served(sim, upstream):
    assert sync_now(sim)["result"] == "success"
    assert curl("%s/v1/patches/%s" % (haproxy(sim), PATCH)) == upstream.data


def relation(sim, unit, endpoint):
    (info,) = [r for r in sim.json("show-unit", unit)[unit]["relation-info"] if r["endpoint"] == endpoint]
    return info


def test_postgresql14_over_db(contracts, upstream):
    with simulated_model("jujusim-e2e-pgdb-") as sim:
        sim.run("deploy", BUNDLE_DB, "--charm", "livepatch=" + CHARM)
        seed_flow(sim, contracts, upstream)
        synced_and_served(sim, upstream)
        # What the charm asked for, where PostgreSQL 14 reads it: app data, then unit data.
        db = relation(sim, "livepatch/0", "db")
        assert db["local-unit"]["data"]["database"] == "livepatch"
        assert "roles" not in db["local-unit"]["data"] and "roles" not in db["local-application-data"]

        sim.run("config", "livepatch", "psql_roles=livepatch_reader")
        sim.wait()
        assert set(statuses(sim, "livepatch").values()) == {
            ("blocked", "psql_roles cannot be granted over db: use the database relation instead")}
        assert curl("%s/v1/patches/%s" % (haproxy(sim), PATCH)) == upstream.data  # still serving
        sim.run("config", "livepatch", "--reset", "psql_roles")
        sim.wait()
        assert {state for state, _ in statuses(sim, "livepatch").values()} == {"active"}


def test_postgresql16_on_juju3_with_secrets_and_floating_ingress(contracts, upstream):
    with open(BUNDLE) as handle:
        bundle = yaml.safe_load(handle)
    bundle["applications"]["postgresql"]["channel"] = "16/edge"
    with tempfile.TemporaryDirectory() as folder, \
            simulated_model("jujusim-e2e-pg16-", juju_version="3.4.5", ingress_offset=100) as sim:
        path = os.path.join(folder, "bundle.yaml")
        with open(path, "w") as handle:
            yaml.safe_dump(bundle, handle)
        sim.run("deploy", path, "--charm", "livepatch=" + CHARM)
        seed_flow(sim, contracts, upstream)
        synced_and_served(sim, upstream)

        # PostgreSQL 16 answered with a secret, not with a password in the databag.
        database = relation(sim, "livepatch/0", "database")
        assert "secret-user" in database["application-data"]
        assert "password" not in database["application-data"]
        assert "requested-secrets" in database["local-application-data"]

        # Each unit listens on its own address and tells haproxy its floating one.
        for unit in statuses(sim, "livepatch"):
            own = sim.exec(unit, "unit-get private-address").stdout.strip()
            ingress = sim.json("show-unit", unit)[unit]["public-address"]
            assert own != ingress
            config = yaml.safe_load(open(sim.unit_root(unit, "/etc/livepatch/livepatch.yaml")))
            assert config["bind_address"] == own
            website = relation(sim, unit, "website")["local-unit"]["data"]
            assert website["private-address"] == ingress
            assert ingress in yaml.safe_load(website["services"])[0]["servers"][0]
