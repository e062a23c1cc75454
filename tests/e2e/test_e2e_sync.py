"""Servers chain, end to end under jujusim: a second livepatch application, configured
with the first as its `sync_upstream` and a sync token the first issued, mirrors the
first one's patches through its leader's scheduled sync. Both are the BUILT charm,
each with its own database on the postgresql stand-in."""

import hashlib
import os
import time

import pytest
import requests

from e2ehelpers import CHARM, simulated_model, unit_address

pytestmark = pytest.mark.e2e

PATCH = "livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2"
EDGE_ONLY = "livepatch-5.15.0-107.117-generic-107.2-amd64.tar.bz2"
ADMIN, PASSWORD = "admin", "e2e-sync-pw"


@pytest.fixture(scope="module")
def chained():
    from livepatch_app.auth_users import hash_password

    users = "auth_basic_users=%s:%s" % (ADMIN, hash_password(PASSWORD, rounds=4))
    with simulated_model("jujusim-e2e-sync-") as sim:
        sim.run("deploy", "postgresql")
        sim.run("deploy", CHARM, "upstream", "--config", users, "--config", "psql_dbname=upstream",
                "--config", "patch_sync_enabled=false",
                "--config", "url_template=http://upstream.example/v1/patches/{filename}")
        sim.run("deploy", CHARM, "mirror", "--config", users, "--config", "psql_dbname=mirror",
                "--config", "url_template=http://mirror.example/v1/patches/{filename}")
        sim.run("relate", "upstream:db", "postgresql:db")
        sim.run("relate", "mirror:db", "postgresql:db")
        sim.wait(timeout=600)
        yield sim


def workload(sim, unit):
    status = sim.unit(unit)["workload-status"]
    return status["current"], status["message"]


def base(sim, unit):
    return "http://%s:8080" % unit_address(sim, unit)


def test_mirror_follows_its_upstream(chained):
    sim = chained
    assert workload(sim, "upstream/0")[0] == "active", workload(sim, "upstream/0")
    assert workload(sim, "mirror/0") == ("blocked", "sync_token not set: run the get-resource-token action")

    upstream = base(sim, "upstream/0")
    auth = (ADMIN, PASSWORD)
    stable_bytes, edge_bytes = os.urandom(200 * 1024), os.urandom(100 * 1024)
    for name, data in ((PATCH, stable_bytes), (EDGE_ONLY, edge_bytes)):
        resp = requests.put("%s/v1/admin/patches/%s" % (upstream, name), data=data, auth=auth, timeout=30)
        assert resp.status_code == 201, resp.text
    resp = requests.post(upstream + "/v1/admin/patches/107.1/promote", json={"tier": "stable"}, auth=auth,
                         timeout=30)
    assert resp.status_code == 200, resp.text
    resp = requests.post(upstream + "/v1/admin/sync-tokens", json={"tier": "stable", "name": "mirror"},
                         auth=auth, timeout=30)
    assert resp.status_code in (200, 201), resp.text
    token = resp.json()["token"]

    # The operator points the mirror at the upstream; its leader syncs on its own.
    sim.run("config", "mirror", "sync_upstream=" + upstream, "sync_token=" + token)
    sim.wait()
    current, message = workload(sim, "mirror/0")
    assert current == "active", message
    assert token not in message

    mirror = base(sim, "mirror/0")
    deadline = time.time() + 90
    names = []
    while time.time() < deadline:
        resp = requests.get(mirror + "/v1/admin/patches", auth=auth, timeout=30)
        names = [p["filename"] for p in resp.json()["patches"]] if resp.status_code == 200 else []
        if names:
            break
        time.sleep(1)
    assert names == [PATCH]          # the stable token does not see the edge-only patch
    runs = requests.get(mirror + "/v1/admin/sync/reports", auth=auth, timeout=30).json()["runs"]
    assert runs[0]["result"] == "success" and runs[0]["trigger"] == "schedule", runs[0]
    assert runs[0]["patches-added"] == 1

    # Mirrored bytes are the upstream's, and land in the mirror's first tier.
    got = requests.get("%s/v1/patches/%s" % (mirror, PATCH), timeout=30)
    assert got.status_code == 200 and got.content == stable_bytes
    assert got.headers["ETag"].strip('"') == hashlib.sha256(stable_bytes).hexdigest()
    tiers = requests.get(mirror + "/v1/admin/patches", auth=auth, timeout=30).json()["patches"][0]["tiers"]
    assert tiers == ["edge"]
