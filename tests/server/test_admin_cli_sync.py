"""livepatch-admin for sync and storage: sync tokens, a downstream server syncing
from the live one through `sync trigger --wait`, sync reports, storage refresh."""

import os

from test_admin_cli import AdminCLI, admin, cli, shared_server, unique  # noqa: F401 (fixtures)
from test_admin_cli_patches import patch_file


def test_sync_tokens(admin):
    name = unique("dc2")
    token = admin.ok("sync-tokens", "add", "stable", name).out.strip()
    assert len(token) >= 32
    listed = admin.json("sync-tokens", "list")["sync-tokens"]
    [row] = [row for row in listed if row["name"] == name]
    assert row["tier"] == "stable" and row["revoked"] is False and "token" not in row
    table = admin.ok("sync-tokens", "list").out
    assert name in table and token not in table
    assert "(token-exists, HTTP 409)" in admin.fails("sync-tokens", "add", "stable", name).err
    later = admin.json("sync-tokens", "add", "beta", unique("dc3"), "--valid-until", "2099-06-01T00:00:00Z")
    assert later["valid-until"] == "2099-06-01T00:00:00Z" and len(later["token"]) >= 32
    assert admin.ok("sync-tokens", "revoke", name).out == f"Sync token {name} revoked.\n"
    assert "(token-not-found, HTTP 404)" in admin.fails("sync-tokens", "revoke", name).err


def test_sync_disabled_and_no_runs(admin):
    result = admin.fails("sync", "trigger")
    assert "(sync-disabled, HTTP 409)" in result.err
    assert admin.ok("sync", "reports").out == "No sync runs yet.\n"
    assert admin.json("sync", "report") == {"runs": []}  # the other spelling the docs use
    assert admin.json("sync", "deployments") == {"deployments": []}


def test_downstream_syncs_through_the_cli(shared_server, admin, make_server, tmp_path):
    # Upstream: a patch in edge (where uploads land) and a sync token for edge.
    path, _, version = patch_file(tmp_path)
    admin.ok("patch", "upload", path)
    token = admin.ok("sync-tokens", "add", "edge", unique("downstream")).out.strip()

    downstream = make_server(patch_sync_enabled=True, sync_upstream=shared_server.url, sync_token=token,
                             sync_flavors="generic")
    down = AdminCLI(downstream.url, tmp_path / "down-home")
    down.login()
    run = down.json("sync", "trigger", "--wait")
    assert run["result"] == "success" and run["patches-added"] == 1 and run["bytes"] == 4096, run
    assert run["trigger"] == "manual" and run["finished"] is not None
    [row] = down.json("patch", "list", "--version", version)["patches"]
    assert row["filename"] == path.name and row["source"] == "sync"
    runs = down.json("sync", "reports")["runs"]
    assert runs[0]["id"] == run["id"]
    table = down.ok("sync", "report").out.splitlines()
    assert table[0].split()[:5] == ["ID", "STARTED", "FINISHED", "TRIGGER", "RESULT"]
    assert table[1].split()[3:5] == ["manual", "success"]
    assert "4.0 KiB" in table[1]
    # Without --wait the run starts in the background: the answer says so at once.
    started = down.json("sync", "trigger")
    assert started["result"] in ("running", "success") and started["trigger"] == "manual"
    assert len(down.json("sync", "reports", "--limit", "1")["runs"]) == 1


def test_storage_refresh_imports_dropped_files(shared_server, admin, tmp_path):
    folder = os.path.join(shared_server.config.filestore_path, "import")
    os.makedirs(folder, exist_ok=True)
    path, _, version = patch_file(tmp_path)
    os.replace(path, os.path.join(folder, path.name))
    with open(os.path.join(folder, "not-a-patch.txt"), "w") as handle:
        handle.write("x")
    out = admin.ok("storage", "refresh").out.splitlines()
    assert out[0] == "Imported 1, skipped 0 (already stored), rejected 1."
    assert f"  imported  {path.name}" in out
    assert any(line.startswith("  rejected  not-a-patch.txt: ") for line in out)
    assert admin.json("storage", "refresh") == {"imported": [], "skipped": [], "rejected": []}
    [row] = admin.json("patch", "list", "--version", version)["patches"]
    assert row["source"] == "import"
    assert path.name in {p["filename"] for p in admin.json("storage", "patches", "--limit", "1000")["patches"]}
