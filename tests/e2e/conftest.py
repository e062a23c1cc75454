"""End-to-end fixtures: the bundle under jujusim with the BUILT livepatch charm and
the stand-ins (postgresql, haproxy, ubuntu-advantage), a fake Ubuntu Pro contracts
server, and a real livepatch server playing Canonical's upstream."""

import os

import pytest
from fakecontracts import FakeContracts
from livetest import server_on_new_database

from e2ehelpers import BUNDLE, CHARM, CONTRACT_TOKEN, PATCH, simulated_model


@pytest.fixture(scope="session")
def upstream(pg_admin_dsn, migrated_template, admin_users_entry, tmp_path_factory):
    """Canonical's upstream, played by a real livepatch server holding one stable
    patch (`upstream.data`), and `upstream.token`, the credential it accepts for
    syncs: the fake contracts server hands it out as the livepatch-onprem resource
    token, as the real contracts server hands out one Canonical's upstream accepts."""
    with server_on_new_database(pg_admin_dsn, migrated_template, admin_users_entry,
                                tmp_path_factory.mktemp("upstream"), prefix="lp_e2e_upstream_",
                                patch_sync_enabled=False) as server:
        server.data = os.urandom(256 * 1024)
        assert server.admin("PUT", "/v1/admin/patches/" + PATCH, data=server.data).status_code == 201
        resp = server.admin("POST", "/v1/admin/patches/107.1/promote", json={"tier": "stable"})
        assert resp.status_code == 200, resp.text
        resp = server.admin("POST", "/v1/admin/sync-tokens", json={"tier": "stable", "name": "e2e"})
        assert resp.status_code in (200, 201), resp.text
        server.token = resp.json()["token"]
        yield server


@pytest.fixture(scope="session")
def contracts(upstream):
    with FakeContracts() as server:
        server.add_contract_token(CONTRACT_TOKEN)
        server.hand_out(upstream.token)
        yield server


@pytest.fixture(scope="module")
def bundle_model():
    """bundle.yaml deployed (once per module); destroyed afterwards, even on failure."""
    with simulated_model("jujusim-e2e-") as sim:
        sim.run("deploy", BUNDLE, "--charm", "livepatch=" + CHARM)
        yield sim
