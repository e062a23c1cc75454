"""The functions other areas call: ingest_patch (sync, air-gapped import),
data.patches.newest_offer / exists_kernel / newest_kernel (client check-ins),
and the storage sweep. Real database and stores; results checked over HTTP
where a client would see them."""

import hashlib
import io
import os
import time

import psycopg2
import pytest

from livepatch_app import context
from livepatch_app.data import patches, tiers
from livepatch_app.errors import BadRequest, Conflict, TooLarge
from livepatch_app.ingest import commit, ingest_patch, stage
from livepatch_app.storage import HashingReader
from livepatch_app.storage.sweeper import sweep_once

SMALL = {"concurrency_limit": 8, "burst_limit": 4}
NAME = "livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2"


def name_for(kernel="5.15.0-107.117", flavour="generic", version="107.1", arch="amd64"):
    return f"livepatch-{kernel}-{flavour}-{version}-{arch}.tar.bz2"


@pytest.fixture(params=["postgres", "filesystem"])
def server(request, make_server, tmp_path):
    return make_server(**SMALL, patchstore=request.param, filestore_path=str(tmp_path / "fs"))


def services(server):
    shared = context.services(server.app)
    return shared.db, shared.store


def stored_things(server):
    """Blobs in the database plus files in the filesystem store (staging included)."""
    conn = psycopg2.connect(server.config.database_url)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM blobs")
        count = cur.fetchone()[0]
    conn.close()
    root = server.config.filestore_path
    if os.path.isdir(root):
        count += sum(len(files) for _, _, files in os.walk(root))
    return count


def test_ingest_with_expected_checksum(server):
    db, store = services(server)
    data = b"synced bytes"
    patch, created = ingest_patch(db, store, NAME, io.BytesIO(data), source="sync",
                                  expected_sha256=hashlib.sha256(data).hexdigest().upper())
    assert created is True and patch["source"] == "sync" and patch["tiers"] == ["edge"]
    assert server.request("GET", f"/v1/patches/{NAME}").content == data
    # Again with the same bytes: a no-op, the same row.
    again, created = ingest_patch(db, store, NAME, io.BytesIO(data), source="sync")
    assert created is False and again["id"] == patch["id"]
    assert stored_things(server) == 1
    with pytest.raises(Conflict) as conflict:
        ingest_patch(db, store, NAME, io.BytesIO(b"other"), source="sync")
    assert conflict.value.code == "patch-exists"


def test_staged_files_commit_together(server):
    db, store = services(server)
    taken = name_for(version="107.9")
    ingest_patch(db, store, taken, io.BytesIO(b"the first bytes"))
    names = [name_for(version=f"107.{n}") for n in range(1, 4)]
    staged = [stage(store, name, io.BytesIO(name.encode()), expected_sha256=hashlib.sha256(name.encode()).hexdigest())
              for name in names]
    staged.append(stage(store, taken, io.BytesIO(b"other bytes")))  # the name was taken meanwhile
    staged.append(stage(store, names[0], io.BytesIO(names[0].encode())))  # twice in one batch, same bytes
    before = stored_things(server)
    assert server.request("GET", f"/v1/patches/{names[0]}").status_code == 404  # staged: not visible
    results = commit(db, store, staged, "sync")
    assert [(r.filename, r.created, getattr(r.error, "code", None)) for r in results] == [
        (names[0], True, None), (names[1], True, None), (names[2], True, None),
        (taken, False, "patch-exists"), (names[0], False, None)]
    conn = psycopg2.connect(server.config.database_url)
    with conn, conn.cursor() as cur:  # one transaction: one start time for every row
        cur.execute("SELECT count(DISTINCT created_at), count(*) FROM patches WHERE filename = ANY(%s)", (names,))
        assert cur.fetchone() == (1, 3)
    conn.close()
    for name in names:
        r = server.request("GET", f"/v1/patches/{name}")
        assert r.status_code == 200 and r.content == name.encode()
    assert server.request("GET", f"/v1/patches/{taken}").content == b"the first bytes"
    assert stored_things(server) == before - 2  # the bytes that did not commit are gone


def test_a_staged_file_is_checked_before_anything_commits(server):
    db, store = services(server)
    before = stored_things(server)
    with pytest.raises(BadRequest) as caught:
        stage(store, NAME, io.BytesIO(b"tampered"), expected_sha256="0" * 64)
    assert caught.value.code == "checksum-mismatch" and stored_things(server) == before


def test_checksum_mismatch_leaves_nothing(server):
    db, store = services(server)
    with pytest.raises(BadRequest) as error:
        ingest_patch(db, store, NAME, io.BytesIO(b"tampered"), source="sync", expected_sha256="0" * 64)
    assert error.value.code == "checksum-mismatch"
    assert server.request("GET", f"/v1/patches/{NAME}").status_code == 404
    assert server.admin("GET", "/v1/admin/patches").json()["total"] == 0
    assert stored_things(server) == 0
    with pytest.raises(BadRequest) as error:
        ingest_patch(db, store, NAME, io.BytesIO(b"x"), expected_sha256="not-a-hash")
    assert error.value.code == "invalid-checksum"


def test_ingest_refuses_bad_names(make_server, tmp_path):
    server = make_server(**SMALL, patchstore="filesystem", filestore_path=str(tmp_path / "fs"))
    db, store = services(server)
    for bad in ("x.tar.bz2", "../" + NAME, NAME + "/..", "a/" + NAME, NAME + "\x00", "", None):
        with pytest.raises(BadRequest) as error:
            ingest_patch(db, store, bad, io.BytesIO(b"x"))
        assert error.value.code == "invalid-patch-name"
    assert stored_things(server) == 0


def test_ingest_size_limit_and_broken_stream(server):
    db, store = services(server)
    with pytest.raises(TooLarge):
        ingest_patch(db, store, NAME, io.BytesIO(b"x" * 2000), max_bytes=1000)
    assert stored_things(server) == 0

    class Broken(io.RawIOBase):  # a network stream that dies half-way
        def __init__(self):
            self.sent = 0

        def read(self, size=-1):
            if self.sent > 3 * 1024 * 1024:
                raise ConnectionError("peer went away")
            self.sent += 512 * 1024
            return b"y" * (512 * 1024)

    with pytest.raises(ConnectionError):
        ingest_patch(db, store, NAME, Broken(), source="sync")
    assert stored_things(server) == 0
    assert server.admin("GET", "/v1/admin/patches").json()["total"] == 0


def test_hashing_reader_fills_chunks_from_short_reads():
    class Trickle(io.RawIOBase):
        def __init__(self, data):
            self.data = data

        def read(self, size=-1):
            piece, self.data = self.data[:1000], self.data[1000:]
            return piece

    data = os.urandom(3 * 1024 * 1024 + 5)
    reader = HashingReader(Trickle(data), None)
    sizes = [len(c) for c in reader.chunks()]
    assert sizes == [1024 * 1024] * 3 + [5]
    assert reader.sha256 == hashlib.sha256(data).hexdigest() and reader.size == len(data)


def test_newest_offer(make_server):
    server = make_server(**SMALL)
    db, store = services(server)
    for version in ("107.1", "107.10", "107.2", "108.1"):
        ingest_patch(db, store, name_for(version=version), io.BytesIO(version.encode()))
    ingest_patch(db, store, name_for(version="109.1", arch="arm64"), io.BytesIO(b"arm"))
    ingest_patch(db, store, name_for(version="110.1", flavour="aws"), io.BytesIO(b"aws"))
    server.admin("POST", "/v1/admin/patches/107.2/promote", json={"tier": "beta"})
    server.admin("POST", f"/v1/admin/patches/{name_for(version='108.1')}/block")
    with db.transaction() as cur:
        edge, beta, stable = (tiers.find(cur, n)["id"] for n in ("edge", "beta", "stable"))

        def offer(tier_id, kernel="5.15.0-107.117", flavour="generic", arch="amd64"):
            row = patches.newest_offer(cur, tier_id, kernel, flavour, arch)
            return row and row["version"]

        assert offer(edge) == "107.10"  # 108.1 is blocked; 107.10 > 107.2 numerically
        assert offer(beta) == "107.2"
        assert offer(stable) is None
        assert offer(edge, arch="arm64") == "109.1"
        assert offer(edge, flavour="aws") == "110.1"
        assert offer(edge, kernel="5.15.0-107.118") is None
        assert patches.exists_kernel(cur, "5.15.0-107.117", "generic", "amd64") is True
        assert patches.exists_kernel(cur, "5.15.0-107.117", "generic", "amd64", tier_id=stable) is False
        assert patches.exists_kernel(cur, "5.15.0-1.1", "generic", "amd64") is False
        newest = patches.newest_kernel(cur, "5.15.0", "generic", "amd64")
        assert (newest["abi"], newest["build"], newest["kernel"]) == (107, 117, "5.15.0-107.117")
        assert patches.newest_kernel(cur, "6.8.0", "generic", "amd64") is None
        # The check-in lookup can use an index rather than scan every patch.
        cur.execute("SET LOCAL enable_seqscan = off")
        cur.execute("EXPLAIN SELECT 1 FROM patches p WHERE p.kernel = 'k' AND p.flavour = 'f' "
                    "AND p.architecture = 'a'")
        plan = " ".join(row["QUERY PLAN"] for row in cur.fetchall())
        assert "Index" in plan and "Seq Scan" not in plan


def test_sweep_removes_only_unreferenced_bytes(server, tmp_path):
    db, store = services(server)
    ingest_patch(db, store, NAME, io.BytesIO(b"kept"))
    orphan = store.save(io.BytesIO(b"orphan"), name=name_for(version="1.1"))  # as if the process died here
    operator_file = None
    if store.kind == "filesystem":
        # An operator's file awaiting an air-gapped import must survive the sweep.
        operator_file = os.path.join(server.config.filestore_path, name_for(version="2.1"))
        with open(operator_file, "wb") as handle:
            handle.write(b"operator")
        past = time.time() - 7200
        os.utime(store.path(orphan.key), (past, past))
        os.utime(operator_file, (past, past))
    else:
        conn = psycopg2.connect(server.config.database_url)
        with conn, conn.cursor() as cur:
            cur.execute("UPDATE blobs SET created_at = now() - interval '2 hours'")
        conn.close()
    assert sweep_once(server.app) == 1
    assert server.request("GET", f"/v1/patches/{NAME}").content == b"kept"
    with pytest.raises(FileNotFoundError):
        list(store.open(orphan.key))
    if operator_file:
        assert os.path.exists(operator_file)
    assert sweep_once(server.app) == 0
