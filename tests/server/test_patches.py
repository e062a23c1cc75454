"""Admin patch endpoints through HTTP: upload, list, delete, promote, blocklist."""

import hashlib
import threading

import pytest

from livepatch_app.storage.postgres import ROW_BYTES, ROWS_PER_PIECE

NAME = "livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2"
# Few waitress threads per test server: a stopped server's threads linger until
# the run ends, and hundreds per test exhaust the machine's process limit.
SMALL = {"concurrency_limit": 8, "burst_limit": 4}


@pytest.fixture
def server(make_server):
    return make_server(**SMALL)


def name_for(kernel="5.15.0-107.117", flavour="generic", version="107.1", arch="amd64"):
    return f"livepatch-{kernel}-{flavour}-{version}-{arch}.tar.bz2"


def upload(server, filename, data, **kwargs):
    return server.admin("PUT", f"/v1/admin/patches/{filename}", data=data, **kwargs)




def test_upload_answers_the_parsed_patch(server):
    data = b"patch bytes " * 1000
    r = upload(server, NAME, data)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body == {
        "filename": NAME, "kernel": "5.15.0-107.117", "flavour": "generic", "version": "107.1",
        "architecture": "amd64", "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
        "tiers": ["edge"], "blocked": False, "source": "upload", "created-at": body["created-at"],
        "created": True,
    }
    assert body["created-at"].endswith("Z")
    listed = server.admin("GET", "/v1/admin/patches").json()
    assert listed["total"] == 1 and listed["patches"][0]["filename"] == NAME
    assert "created" not in listed["patches"][0]


def test_same_bytes_is_a_no_op_other_bytes_conflict(server):
    assert upload(server, NAME, b"one").status_code == 201
    again = upload(server, NAME, b"one")
    assert again.status_code == 200 and again.json()["created"] is False
    other = upload(server, NAME, b"two")
    assert other.status_code == 409 and other.json()["code"] == "patch-exists"
    assert server.request("GET", f"/v1/patches/{NAME}").content == b"one"
    # Nothing of the refused upload is left in the store.
    assert server.sql("SELECT count(*) FROM blobs")[0][0] == 1


def test_upload_needs_admin(server):
    r = server.request("PUT", f"/v1/admin/patches/{NAME}", data=b"x")
    assert r.status_code == 401 and r.json()["code"] == "missing-credentials"
    r = server.request("PUT", f"/v1/admin/patches/{NAME}", data=b"x", auth=("admin", "wrong"))
    assert r.status_code == 401
    assert server.admin("GET", "/v1/admin/patches").json()["total"] == 0


def test_upload_refuses_bad_names_and_paths(server):
    for bad in ("notapatch.tar.bz2", "livepatch-5.15.0-107.117-generic-107.1-x86.tar.bz2",
                NAME + "%0A", "...", "%20" + NAME,
                # an ABI past a PostgreSQL integer (the insert failed: 500)
                "livepatch-5.15.0-9999999999.117-generic-107.1-amd64.tar.bz2",
                # a kernel number past an integer (stored, then every list answered 500)
                "livepatch-5.15.73563787979-107.117-generic-107.1-amd64.tar.bz2"):
        r = upload(server, bad, b"x")
        assert r.status_code == 400 and r.json()["code"] == "invalid-patch-name", (bad, r.text)
    r = upload(server, NAME + "%00", b"x")  # text no column can hold
    assert r.status_code == 400 and r.json()["code"] == "invalid-text"
    # Slashes (plain or encoded) and dot segments never reach a store path.
    for bad in ("a%2F" + NAME, "..%2F" + NAME, "a/" + NAME, "..", "%2E%2E", "../" + NAME):
        r = upload(server, bad, b"x")
        assert r.status_code in (400, 404) and "code" in r.json(), bad
    assert server.admin("GET", "/v1/admin/patches").json()["total"] == 0
    assert server.sql("SELECT count(*) FROM blobs")[0][0] == 0


def test_empty_upload_is_refused(server):
    r = upload(server, NAME, b"")
    assert r.status_code == 400 and r.json()["code"] == "empty-upload"
    assert server.sql("SELECT count(*) FROM blobs")[0][0] == 0


@pytest.mark.parametrize("store", ["postgres", "filesystem"])
def test_upload_size_limit_by_length_and_by_counting(make_server, store, tmp_path):
    server = make_server(**SMALL, max_upload_size=1, patchstore=store, filestore_path=str(tmp_path / "fs"))
    too_big = b"x" * (1024 * 1024 + 1)
    r = upload(server, NAME, too_big)
    assert r.status_code == 413 and r.json()["code"] == "upload-too-large"

    def chunked():  # no Content-Length: the limit must be counted while streaming
        for _ in range(3):
            yield b"y" * (512 * 1024)

    r = upload(server, NAME, chunked())
    assert r.status_code == 413 and r.json()["code"] == "upload-too-large"
    assert server.admin("GET", "/v1/admin/patches").json()["total"] == 0
    assert server.request("GET", f"/v1/patches/{NAME}").status_code == 404
    assert server.sql("SELECT count(*) FROM blobs")[0][0] == 0
    if store == "filesystem":
        left = [p for p in (tmp_path / "fs").rglob("*") if p.is_file()]
        assert left == []
    # Exactly the limit is fine.
    assert upload(server, NAME, b"z" * (1024 * 1024)).status_code == 201


def test_chunked_upload_with_odd_pieces_keeps_exact_bytes(server):
    """Short reads must not give the postgres store short rows (ranges rely on full ones)."""
    data = bytes(range(256)) * 10000  # 2.56 MB: crosses the ~1 MiB pieces a save reads and a read queries

    def pieces():
        for i in range(0, len(data), 7777):
            yield data[i:i + 7777]

    r = upload(server, NAME, pieces())
    assert r.status_code == 201 and r.json()["size"] == len(data)
    sizes = [row[0] for row in server.sql("SELECT length(data) FROM blob_chunks ORDER BY seq")]
    assert sizes[:-1] == [ROW_BYTES] * (len(sizes) - 1) and sum(sizes) == len(data)
    # Rows stay in the table's pages (migration 0006): nothing went to its TOAST table.
    assert server.sql("SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE relname = 'blob_chunks'")[0][0] == 0
    for start in (ROW_BYTES - 10, ROW_BYTES * ROWS_PER_PIECE - 10, 1024 * 1024 - 10):
        got = server.request("GET", f"/v1/patches/{NAME}", headers={"Range": f"bytes={start}-{start + 99}"})
        assert got.status_code == 206 and got.content == data[start:start + 100]
    assert server.request("GET", f"/v1/patches/{NAME}").content == data


def test_blobs_stored_before_migration_0006_still_download(server):
    """Blobs written before migration 0006 keep their 1 MiB chunks (toasted values); the
    chunk size is each blob's own, so they still download whole and by Range."""
    data = bytes(range(251)) * 10000  # 2.51 MB: three old chunks
    assert upload(server, NAME, data).status_code == 201
    server.sql("""
        CREATE TEMP TABLE whole AS
            SELECT blob_id, string_agg(data, ''::bytea ORDER BY seq) AS data FROM blob_chunks GROUP BY blob_id;
        DELETE FROM blob_chunks;
        INSERT INTO blob_chunks (blob_id, seq, data)
            SELECT blob_id, n, substring(data FROM n * 1048576 + 1 FOR 1048576)
            FROM whole, generate_series(0, (length(data) - 1) / 1048576) AS n;
        UPDATE blobs SET chunk_size = 1048576""")
    assert [row[0] for row in server.sql("SELECT length(data) FROM blob_chunks ORDER BY seq")] == [
        1048576, 1048576, len(data) - 2 * 1048576]
    start = 2 * 1048576 - 10
    got = server.request("GET", f"/v1/patches/{NAME}", headers={"Range": f"bytes={start}-{start + 99}"})
    assert got.status_code == 206 and got.content == data[start:start + 100]
    assert server.request("GET", f"/v1/patches/{NAME}").content == data


def test_concurrent_same_name_uploads_never_500(server):
    results = []

    def put(data):
        results.append(upload(server, NAME, data))

    threads = [threading.Thread(target=put, args=(b"same" * 1000,)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(r.status_code for r in results)
    assert codes == [200] * 5 + [201], [r.text for r in results]
    assert server.sql("SELECT count(*) FROM blobs")[0][0] == 1

    other = "livepatch-5.15.0-107.117-generic-107.2-amd64.tar.bz2"
    results.clear()
    threads = [threading.Thread(target=lambda i=i: results.append(upload(server, other, b"v%d" % i)))
               for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(r.status_code for r in results)
    assert codes == [201] + [409] * 5, [r.text for r in results]
    assert server.sql("SELECT count(*) FROM blobs")[0][0] == 2


def test_list_filters_and_paging(server):
    names = [
        name_for(version="107.1"),
        name_for(version="107.2"),
        name_for(version="107.1", arch="arm64"),
        name_for(flavour="aws-fips", version="107.1"),
        name_for(kernel="6.8.0-45.45", version="3.1"),
        name_for(kernel="5.4.0-1.1", version="9.1"),
    ]
    for i, name in enumerate(names):
        assert upload(server, name, b"%d" % i).status_code == 201

    def listed(query=""):
        r = server.admin("GET", "/v1/admin/patches" + query)
        assert r.status_code == 200, r.text
        return [p["filename"] for p in r.json()["patches"]]

    assert listed("?kernel=5.15.0-107.117&flavour=generic&architecture=amd64") == names[:2]
    assert listed("?kernel=5.15.0-107.117-aws-fips") == [names[3]]
    assert listed("?flavour=aws-fips") == [names[3]]
    assert listed("?architecture=arm64") == [names[2]]
    assert sorted(listed("?version=107.1")) == sorted([names[0], names[2], names[3]])
    assert listed("?version=107.01&architecture=arm64") == [names[2]]
    assert listed("?tier=edge&kernel=6.8.0-45.45") == [names[4]]
    assert listed("?tier=beta") == []
    # A kernel whose flavour is not "flavour" matches nothing: an empty page, not an error.
    r = server.admin("GET", "/v1/admin/patches?kernel=5.15.0-107.117-generic&flavour=aws")
    assert r.status_code == 200 and r.json()["total"] == 0 and r.json()["patches"] == []
    # Kernel order is numeric: 5.4 before 5.15 before 6.8.
    everything = listed()
    assert everything[0] == names[5] and everything[-1] == names[4]
    page = server.admin("GET", "/v1/admin/patches?limit=2&offset=2").json()
    assert page["total"] == 6 and page["limit"] == 2 and page["offset"] == 2
    assert [p["filename"] for p in page["patches"]] == everything[2:4]

    for query, status, code in [("?tier=nope", 404, "tier-not-found"), ("?version=abc", 400, "invalid-version"),
                                ("?kernel=5.15", 400, "invalid-query"), ("?limit=0", 400, "invalid-query"),
                                ("?limit=x", 400, "invalid-query"), ("?blocked=maybe", 400, "invalid-query"),
                                ("?version=1" + "0" * 5000 + ".1", 400, "invalid-version"),
                                ("?kernel=5.15.0-" + "1" * 5000 + ".1-generic", 400, "invalid-query")]:
        r = server.admin("GET", "/v1/admin/patches" + query)
        assert (r.status_code, r.json()["code"]) == (status, code), query


def test_delete_removes_row_and_bytes(make_server, tmp_path):
    for store in ("postgres", "filesystem"):
        folder = tmp_path / store
        server = make_server(**SMALL, patchstore=store, filestore_path=str(folder))
        assert upload(server, NAME, b"bytes").status_code == 201
        r = server.admin("DELETE", f"/v1/admin/patches/{NAME}")
        assert r.status_code == 200 and r.json() == {"filename": NAME, "deleted": True}
        assert server.request("GET", f"/v1/patches/{NAME}").status_code == 404
        assert server.admin("GET", "/v1/admin/patches").json()["total"] == 0
        assert server.sql("SELECT count(*) FROM blobs")[0][0] == 0
        if store == "filesystem":
            assert [p for p in folder.rglob("*") if p.is_file()] == []
        again = server.admin("DELETE", f"/v1/admin/patches/{NAME}")
        assert again.status_code == 404 and again.json()["code"] == "patch-not-found"
        assert server.admin("DELETE", "/v1/admin/patches/nope.tar.bz2").json()["code"] == "invalid-patch-name"
        assert server.request("DELETE", f"/v1/admin/patches/{NAME}").status_code == 401
        # The name is free again, with new bytes.
        assert upload(server, NAME, b"new bytes").status_code == 201


def test_promote_version_to_a_tier_and_those_before(server):
    a, b, c = name_for(version="107.1"), name_for(version="107.1", arch="arm64"), name_for(version="108.1")
    for name in (a, b, c):
        assert upload(server, name, name.encode()).status_code == 201
    r = server.admin("POST", "/v1/admin/patches/107.1/promote", json={"tier": "candidate"})
    assert r.status_code == 200, r.text
    assert r.json() == {"version": "107.1", "tier": "candidate", "tiers": ["edge", "beta", "candidate"],
                        "patches": 2, "added": 4}
    tiers_of = {p["filename"]: p["tiers"] for p in server.admin("GET", "/v1/admin/patches").json()["patches"]}
    assert tiers_of == {a: ["edge", "beta", "candidate"], b: ["edge", "beta", "candidate"], c: ["edge"]}
    # Again: nothing new.
    assert server.admin("POST", "/v1/admin/patches/107.1/promote", json={"tier": "beta"}).json()["added"] == 0

    for path, body, status, code in [
        ("/v1/admin/patches/109.1/promote", {"tier": "beta"}, 404, "version-not-found"),
        ("/v1/admin/patches/107.1/promote", {"tier": "nope"}, 404, "tier-not-found"),
        ("/v1/admin/patches/abc/promote", {"tier": "beta"}, 400, "invalid-version"),
        ("/v1/admin/patches/\u0661\u0660\u0667.1/promote", {"tier": "beta"}, 400, "invalid-version"),
        ("/v1/admin/patches/" + "1" * 5000 + ".1/promote", {"tier": "beta"}, 400, "invalid-version"),
        ("/v1/admin/patches/107.1/promote", {}, 400, "missing-field"),
        ("/v1/admin/patches/107.1/promote", {"tier": 3}, 400, "invalid-field"),
        ("/v1/admin/patches/107.1/promote", {"tier": "beta", "\u0000": 1}, 400, "invalid-text"),
        ("/v1/admin/patches/107.1/promote", {"tier": "beta", "teir": "x"}, 400, "unknown-field"),
    ]:
        r = server.admin("POST", path, json=body)
        assert (r.status_code, r.json()["code"]) == (status, code), path
    r = server.admin("POST", "/v1/admin/patches/107.1/promote", data="{not json")
    assert r.status_code == 400 and r.json()["code"] == "invalid-json"
    assert server.request("POST", "/v1/admin/patches/107.1/promote", json={"tier": "beta"}).status_code == 401


def test_block_and_unblock(server):
    assert upload(server, NAME, b"payload").status_code == 201
    r = server.admin("POST", f"/v1/admin/patches/{NAME}/block", json={"reason": "bad patch"})
    assert r.status_code == 200
    assert r.json() == {"filename": NAME, "blocked": True, "reason": "bad patch", "exists": True}
    download = server.request("GET", f"/v1/patches/{NAME}")
    assert download.status_code == 403 and download.json()["code"] == "patch-blocked"
    assert server.request("HEAD", f"/patches/{NAME}").status_code == 403
    listed = server.admin("GET", "/v1/admin/patches").json()["patches"][0]
    assert listed["blocked"] is True
    assert server.admin("GET", "/v1/admin/patches?blocked=true").json()["total"] == 1
    assert server.admin("GET", "/v1/admin/patches?blocked=false").json()["total"] == 0
    entries = server.admin("GET", "/v1/admin/blocklist").json()["blocklist"]
    assert [(e["filename"], e["reason"], e["source"]) for e in entries] == [(NAME, "bad patch", "local")]

    r = server.admin("POST", f"/v1/admin/patches/{NAME}/unblock")
    assert r.status_code == 200 and r.json()["blocked"] is False and r.json()["was-blocked"] is True
    assert server.request("GET", f"/v1/patches/{NAME}").content == b"payload"
    assert server.admin("POST", f"/v1/admin/patches/{NAME}/unblock").json()["was-blocked"] is False


def test_block_applies_before_the_file_exists(server):
    future = name_for(version="200.1")
    r = server.admin("POST", f"/v1/admin/patches/{future}/block")  # no body: no reason
    assert r.status_code == 200 and r.json()["exists"] is False and r.json()["reason"] == ""
    assert upload(server, future, b"later").status_code == 201
    assert server.admin("GET", "/v1/admin/patches").json()["patches"][0]["blocked"] is True
    assert server.request("GET", f"/v1/patches/{future}").status_code == 403


def test_block_bad_input(server):
    for path, kwargs, status, code in [
        ("/v1/admin/patches/nope/block", {}, 400, "invalid-patch-name"),
        (f"/v1/admin/patches/{NAME}/block", {"json": {"reason": 5}}, 400, "invalid-field"),
        (f"/v1/admin/patches/{NAME}/block", {"json": {"reason": "x" * 501}}, 400, "invalid-field"),
        (f"/v1/admin/patches/{NAME}/block", {"data": "[1]"}, 400, "invalid-json"),
        (f"/v1/admin/patches/{NAME}/block", {"json": {"reasons": "x"}}, 400, "unknown-field"),
        ("/v1/admin/patches/nope/unblock", {}, 400, "invalid-patch-name"),
    ]:
        r = server.admin("POST", path, **kwargs)
        assert (r.status_code, r.json()["code"]) == (status, code), (path, kwargs)
    assert server.request("POST", f"/v1/admin/patches/{NAME}/block").status_code == 401
    assert server.admin("GET", "/v1/admin/blocklist").json()["blocklist"] == []
