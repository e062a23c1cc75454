"""`python -m livepatch_app storage adopt`: the step the charm runs before a unit
switches patch store. Every patch of a filesystem store (uploaded ones, and the
legacy charm's files lying under their own names in /livepatch/) is served from
PostgreSQL afterwards, and back the other way; a patch whose bytes are missing or
do not match its sha256 fails the run (exit 1) and keeps its row as it was."""

import hashlib
import json
import os
import subprocess
import sys

import yaml

from livetest import free_port


def name(version):
    return f"livepatch-5.15.0-107.117-generic-{version}-amd64.tar.bz2"


def adopt(tmp_path, database_url, patchstore, filestore_path, *args):
    config = tmp_path / f"adopt-{patchstore}.yaml"
    config.write_text(yaml.safe_dump({"database_url": database_url, "patchstore": patchstore,
                                      "filestore_path": str(filestore_path), "port": free_port()}))
    proc = subprocess.run([sys.executable, "-m", "livepatch_app", "storage", "adopt", "--config", str(config),
                           *args], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if not k.startswith("LIVEPATCH_")})
    out = json.loads(proc.stdout) if proc.stdout.strip() else None
    return proc.returncode, out, proc.stderr


def keys(server):
    return dict(server.sql("SELECT filename, storage_key FROM patches"))


def download(server, filename):
    resp = server.request("GET", "/v1/patches/" + filename)
    assert resp.status_code == 200, (filename, resp.status_code, resp.text)
    return resp.content


def test_filesystem_to_postgres_and_back(make_server, make_database, tmp_path):
    database = make_database()
    store = tmp_path / "livepatch"
    store.mkdir()
    old = make_server(database_url=database, patchstore="file", filestore_path=str(store), patch_cache_on=False)
    uploaded = os.urandom(5000)
    assert old.admin("PUT", "/v1/admin/patches/" + name("101.1"), data=uploaded).status_code == 201
    # The legacy charm's files: under their own names, one with a sha256sum sidecar.
    legacy, sidecar = os.urandom(7000), os.urandom(3000)
    (store / name("102.1")).write_bytes(legacy)
    (store / name("103.1")).write_bytes(sidecar)
    (store / (name("103.1") + ".sha256")).write_text(f"{hashlib.sha256(sidecar).hexdigest()}  {name('103.1')}\n")
    (store / "README").write_text("not a patch")

    # The upgrade: the legacy files join the filesystem store they lie in.
    code, out, err = adopt(tmp_path, database, "file", store, "--legacy-folder", str(store))
    assert code == 0, err
    assert (out["store"], sorted(out["imported"]), out["moved"], out["failed"]) == (
        "filesystem", [name("102.1"), name("103.1")], [], [])
    assert (store / name("102.1")).read_bytes() == legacy  # left where it was
    # Run again: nothing to do.
    code, out, err = adopt(tmp_path, database, "file", store, "--legacy-folder", str(store))
    assert code == 0 and out["imported"] == [] and len(out["present"]) == 2, (out, err)

    # patchstore file -> postgres: every row's bytes copied into PostgreSQL, verified.
    code, out, err = adopt(tmp_path, database, "postgres", store, "--legacy-folder", str(store),
                           "--from-folder", str(store))
    assert code == 0, err
    assert sorted(out["moved"]) == [name("101.1"), name("102.1"), name("103.1")] and out["failed"] == []
    # The service still running on the filesystem config serves the moved patches too
    # (the charm restarts it right after the move).
    assert download(old, name("101.1")) == uploaded
    assert download(old, name("102.1")) == legacy
    old.stop()
    back = tmp_path / "patches"
    pg = make_server(database_url=database, patchstore="postgres", filestore_path=str(back), patch_cache_on=False)
    assert all(key.startswith("blob:") for key in keys(pg).values())
    assert download(pg, name("101.1")) == uploaded
    assert download(pg, name("102.1")) == legacy
    assert download(pg, name("103.1")) == sidecar

    # And back: postgres -> a new folder.
    code, out, err = adopt(tmp_path, database, "filesystem", back)
    assert code == 0 and len(out["moved"]) == 3, (out, err)
    assert download(pg, name("103.1")) == sidecar  # the postgres service reads the new files too
    pg.stop()
    fs = make_server(database_url=database, patchstore="filesystem", filestore_path=str(back))
    assert not any(key.startswith("blob:") for key in keys(fs).values())
    assert download(fs, name("102.1")) == legacy


def test_missing_or_corrupt_bytes_fail_and_change_nothing(make_server, make_database, tmp_path):
    database = make_database()
    store = tmp_path / "store"
    old = make_server(database_url=database, patchstore="filesystem", filestore_path=str(store))
    for version in ("101.1", "102.1"):
        assert old.admin("PUT", "/v1/admin/patches/" + name(version), data=os.urandom(4000)).status_code == 201
    before = keys(old)
    old.stop()
    (store / before[name("101.1")]).write_bytes(b"bit rot")
    os.unlink(store / before[name("102.1")])

    code, out, err = adopt(tmp_path, database, "postgres", store, "--from-folder", str(store))
    assert code == 1, err
    reasons = {item["filename"]: item["reason"] for item in out["failed"]}
    assert reasons[name("101.1")].startswith("checksum mismatch")
    assert "not found" in reasons[name("102.1")]
    assert out["moved"] == []
    assert keys(old) == before


def test_schema_not_current_exits_2(make_database, tmp_path):
    code, out, err = adopt(tmp_path, make_database(migrate=False), "postgres", tmp_path)
    assert code == 2 and out is None and "upgrade the schema first" in err
