"""Air-gapped import: POST /v1/admin/storage/refresh takes patch files dropped in
the import folder, checks names and .sha256 sidecars, and makes good files
visible in the first tier; bad ones go to rejected/ with a reason."""

import hashlib
import os

import pytest


def name(version="107.1", kernel="5.15.0-107.117", arch="amd64"):
    return f"livepatch-{kernel}-generic-{version}-{arch}.tar.bz2"


def drop(folder, filename, data=None, sidecar=None):
    data = os.urandom(2000) if data is None else data
    (folder / filename).write_bytes(data)
    if sidecar is not None:
        (folder / (filename + ".sha256")).write_text(sidecar)
    return data


def sha(data):
    return hashlib.sha256(data).hexdigest()


def refresh(server):
    r = server.admin("POST", "/v1/admin/storage/refresh")
    assert r.status_code == 200, r.text
    return r.json()


def patches(server):
    return {p["filename"]: p for p in server.admin("GET", "/v1/admin/patches").json()["patches"]}


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "import"
    path.mkdir()
    return path


@pytest.fixture
def server(make_server, folder):
    return make_server(import_path=str(folder))


def test_refresh_imports_good_files_and_rejects_bad_ones(server, folder):
    plain = drop(folder, name("101.1"))
    with_sidecar = os.urandom(3000)
    drop(folder, name("102.1"), with_sidecar, f"{sha(with_sidecar)}  {name('102.1')}\n")
    binary_mode = os.urandom(3000)
    drop(folder, name("103.1"), binary_mode, f"{sha(binary_mode).upper()} *./{name('103.1')}\n")
    already = os.urandom(1000)
    assert server.admin("PUT", f"/v1/admin/patches/{name('100.1')}", data=already).status_code == 201
    drop(folder, name("100.1"), already)
    drop(folder, "notes.txt", b"copied by hand")
    drop(folder, name("104.1"), sidecar=f"{sha(b'other')}  {name('104.1')}\n")
    drop(folder, name("105.1"), sidecar="this is not a checksum\n")
    drop(folder, name("106.1"), sidecar=f"{'a' * 64}  {name('999.1')}\n")
    drop(folder, name("107.1"), b"")
    drop(folder, ".partial-copy", b"still copying")

    result = refresh(server)
    assert result["imported"] == [name("101.1"), name("102.1"), name("103.1")]
    assert result["skipped"] == [name("100.1")]
    reasons = {entry["filename"]: entry["reason"] for entry in result["rejected"]}
    assert sorted(reasons) == sorted([name("104.1"), name("105.1"), name("106.1"), name("107.1"), "notes.txt"])
    assert "not a patch file name" in reasons["notes.txt"]
    assert "sidecar" in reasons[name("104.1")] and sha(b"other") in reasons[name("104.1")]
    assert "sha256sum" in reasons[name("105.1")]
    assert "names another file" in reasons[name("106.1")]
    assert "empty" in reasons[name("107.1")]

    held = patches(server)
    for filename, data in ((name("101.1"), plain), (name("102.1"), with_sidecar), (name("103.1"), binary_mode)):
        assert held[filename]["tiers"] == ["edge"] and held[filename]["source"] == "import"
        assert held[filename]["sha256"] == sha(data)
        assert server.request("GET", f"/v1/patches/{filename}").content == data
    assert set(held) == {name("100.1"), name("101.1"), name("102.1"), name("103.1")}

    # Handled files left the folder; rejected ones wait in rejected/ with their reason.
    assert sorted(p.name for p in folder.iterdir()) == [".partial-copy", "rejected"]
    rejected = folder / "rejected"
    assert (rejected / "notes.txt").read_bytes() == b"copied by hand"
    assert (rejected / (name("104.1") + ".sha256")).exists()
    assert "sidecar" in (rejected / (name("104.1") + ".reason")).read_text()
    # Nothing left to do.
    assert refresh(server) == {"imported": [], "skipped": [], "rejected": []}


def test_same_name_other_bytes_is_rejected(server, folder):
    assert server.admin("PUT", f"/v1/admin/patches/{name()}", data=b"first bytes").status_code == 201
    drop(folder, name(), b"second bytes")
    result = refresh(server)
    assert result["imported"] == [] and result["rejected"][0]["filename"] == name()
    assert "patch-exists" in result["rejected"][0]["reason"]
    assert server.request("GET", f"/v1/patches/{name()}").content == b"first bytes"


def test_default_folder_is_under_the_file_store(make_server, tmp_path):
    store = tmp_path / "store"
    server = make_server(filestore_path=str(store), patchstore="filesystem")
    # No import folder yet: nothing to do, not an error.
    assert refresh(server) == {"imported": [], "skipped": [], "rejected": []}
    (store / "import").mkdir(parents=True)
    data = drop(store / "import", name())
    assert refresh(server)["imported"] == [name()]
    assert server.request("GET", f"/v1/patches/{name()}").content == data
    assert list((store / "import").iterdir()) == []
