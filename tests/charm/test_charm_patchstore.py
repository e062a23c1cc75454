"""A change of patch store loses no patch (docs/migration.md): before the service is
given a config with another patchstore or filestore_path, and once after
upgrade-charm, the unit runs the server's `storage adopt` with the NEW config
(a file of its own), and writes that config only when every patch made it; a
failure blocks and leaves the running service its config. The server side of
`storage adopt` is tested in tests/server/test_storage_adopt.py."""

import pytest

from charms.livepatch import patchstore

BIND, INGRESS = "127.0.0.2", "10.20.30.40"
PROVIDER = {"database": "livepatch", "endpoints": "10.1.1.9:5432", "version": "14.12", "tls": "False",
            "username": "relation-3", "password": "pw"}


@pytest.fixture
def lp(juju, machine, tmp_path):
    """A configured leader serving (stand-in) from a filesystem store in the legacy way."""
    juju.bind("website", bind=BIND, ingress=INGRESS)
    juju.config.update(url_template="http://lp.example/v1/patches/{filename}", port=machine.serve(BIND),
                       patchstore="file", filestore_path=str(tmp_path / "livepatch"))
    juju.leader_data["resource-token"] = "resource-token-from-get-resource-token"
    juju.relate("database:3", {"postgresql/0": {}}, app_data=PROVIDER)
    return juju


def adopt_args(call):
    """{option: [values]} of one `storage adopt` command line."""
    args = {}
    for option, value in zip(call, call[1:]):
        if option.startswith("--"):
            args.setdefault(option, []).append(value)
    return args


def test_adopt_runs_once_with_the_new_config_before_it_is_written(lp, machine, tmp_path):
    machine.set_adopt(store="filesystem", imported=["a", "b"])
    lp.run_hook("database-relation-changed", "database:3", "postgresql/0")
    port = lp.config["port"]
    assert lp.status == ("active", f"serving patches on :{port} (leader)")
    (call,) = machine.adopt_calls()
    args = adopt_args(call)
    folder = str(tmp_path / "livepatch")
    assert args["--legacy-folder"] == [folder] and args["--from-folder"] == [folder]
    assert args["--config"][0].endswith("livepatch.next.yaml")
    assert machine.rendered_config()["patchstore"] == "file"
    lp.run_hook("update-status")
    lp.run_hook("config-changed")
    assert len(machine.adopt_calls()) == 1  # nothing changed: nothing to move


def test_switch_to_postgres_moves_then_writes(lp, machine, tmp_path, logs):
    lp.run_hook("database-relation-changed", "database:3", "postgresql/0")
    machine.set_adopt(store="postgres", moved=["p1", "p2", "p3"], present=["p1"])
    lp.config["patchstore"] = "postgres"
    lp.run_hook("config-changed")
    assert len(machine.adopt_calls()) == 2
    assert machine.rendered_config()["patchstore"] == "postgres"
    assert lp.status[0] == "active"
    assert any("patch store postgres" in line and "3 patches copied into it" in line for line in logs)


def test_a_failed_move_blocks_and_keeps_the_old_config(lp, machine, logs):
    lp.run_hook("database-relation-changed", "database:3", "postgresql/0")
    before = machine.rendered_config()
    machine.set_adopt(1, store="postgres", moved=["p1"],
                      failed=[{"filename": "livepatch-x.tar.bz2", "reason": "checksum mismatch: ..."},
                              {"filename": "livepatch-y.tar.bz2", "reason": "its bytes are not found"}])
    lp.config["patchstore"] = "postgres"
    lp.run_hook("config-changed")
    assert lp.status == ("blocked", "patchstore postgres not applied: 2 patches could not be moved, "
                                    "see juju debug-log; still serving from the previous store")
    assert machine.rendered_config() == before
    assert "patch store postgres: livepatch-x.tar.bz2 not moved: checksum mismatch: ..." in logs
    # Fixed (the operator removed the bad files): the next hook moves and switches.
    machine.set_adopt(store="postgres", moved=["p2"])
    lp.run_hook("update-status")
    assert machine.rendered_config()["patchstore"] == "postgres"
    assert lp.status[0] == "active"


def test_schema_upgrade_pending_writes_nothing(lp, machine):
    lp.run_hook("database-relation-changed", "database:3", "postgresql/0")
    machine.set_schema(2, 3)
    lp.config["patchstore"] = "postgres"
    lp.run_hook("config-changed")
    assert lp.status == ("blocked", "schema upgrade required: run the schema-upgrade action on the leader")
    assert machine.rendered_config()["patchstore"] == "file"
    assert len(machine.adopt_calls()) == 1


def test_upgrade_charm_looks_at_the_store_folder_again(lp, machine):
    lp.run_hook("database-relation-changed", "database:3", "postgresql/0")
    assert len(machine.adopt_calls()) == 1
    lp.run_hook("upgrade-charm")
    assert len(machine.adopt_calls()) == 2


def test_target_and_folders(monkeypatch):
    assert patchstore.target({"patchstore": "file", "filestore_path": "/livepatch/"}) == ["filesystem", "/livepatch"]
    assert patchstore.target({"patchstore": "postgres", "filestore_path": "/x"}) == ["postgres", "/x"]
