"""livepatch-admin tier and patch commands against a live server: upload (streamed,
with progress on a terminal), list, promote, block, remove, tiers."""

import hashlib
import os
import pty
import random
import subprocess
import sys

from test_admin_cli import AdminCLI, admin, cli, shared_server, unique  # noqa: F401 (fixtures)


def patch_file(folder, version_minor=1, size=4096, kernel=None, content=None):
    """A patch file with a name of its own (the server does not look inside)."""
    abi = kernel or random.randint(100, 99999)
    name = f"livepatch-5.15.0-{abi}.{abi + 7}-generic-{abi}.{version_minor}-amd64.tar.bz2"
    path = folder / name
    path.write_bytes(content if content is not None else os.urandom(size))
    return path, abi, f"{abi}.{version_minor}"


def _names(rows):
    return {row["filename"] for row in rows}


def test_tiers(admin):
    name, other = unique("canary"), unique("late")
    created = admin.json("tier", "create", name, "--after", "edge")
    assert created["name"] == name and created["position"] == 2
    assert admin.ok("tier", "create", other).out == f"Tier {other} created.\n"
    names = [row["name"] for row in admin.json("tier", "list")["tiers"]]
    assert names[:3] == ["edge", name, "beta"] and names[-1] == other
    table = admin.ok("tier", "list").out.splitlines()
    assert table[0].split() == ["NAME", "POSITION", "PATCHES", "MACHINES", "CREATED-AT"]
    assert table[1].split()[:2] == ["edge", "1"]

    assert "(tier-exists, HTTP 409)" in admin.fails("tier", "create", name).err
    # In use by an auth token: refused, and the message says why.
    admin.ok("auth-token", unique("uses"), other)
    result = admin.fails("tier", "delete", other)
    assert "in use by 1 auth token(s)" in result.err and "(tier-in-use, HTTP 409)" in result.err
    assert admin.ok("tier", "delete", name).out == f"Tier {name} deleted.\n"
    assert "(tier-not-found, HTTP 404)" in admin.fails("tier", "delete", name).err
    assert name not in [row["name"] for row in admin.json("tier", "list")["tiers"]]


def test_upload_promote_block_remove(admin, tmp_path):
    first, abi, version = patch_file(tmp_path, 1)
    second, _, version2 = patch_file(tmp_path, 2, kernel=abi)
    result = admin.ok("patch", "upload", first, second)
    assert result.err == ""  # not a terminal: no progress line
    assert result.out.splitlines() == [f"{first.name}: uploaded (4.0 KiB) in tier edge",
                                       f"{second.name}: uploaded (4.0 KiB) in tier edge"]
    # Same name, same bytes: a no-op; other bytes: refused.
    [again] = admin.json("patch", "upload", first)
    assert again["created"] is False and again["sha256"] == hashlib.sha256(first.read_bytes()).hexdigest()
    assert admin.ok("patch", "upload", first).out == f"{first.name}: already present (4.0 KiB) in tier edge\n"
    changed = tmp_path / "other"
    changed.mkdir()
    (changed / first.name).write_bytes(b"other bytes")
    result = admin.fails("patch", "upload", changed / first.name)
    assert result.err.startswith(f"error: {first.name}: ") and "(patch-exists, HTTP 409)" in result.err

    listed = admin.json("patch", "list", "--kernel", f"5.15.0-{abi}.{abi + 7}")
    assert _names(listed["patches"]) == {first.name, second.name} and listed["total"] == 2
    [row] = admin.json("patch", "list", "--version", version)["patches"]
    assert row["tiers"] == ["edge"] and row["size"] == 4096 and row["blocked"] is False
    table = admin.ok("patch", "list", "--version", version).out.splitlines()
    assert table[0].split()[:2] == ["FILENAME", "VERSION"] and table[1].split()[:2] == [first.name, version]
    page = admin.ok("patch", "list", "--kernel", f"5.15.0-{abi}.{abi + 7}", "--limit", "1").out
    assert "Showing 1-1 of 2: use --offset and --limit for the rest." in page

    promoted = admin.json("patch", "promote", version, "beta")
    assert promoted["tiers"][-1] == "beta" and promoted["added"] >= 1
    assert admin.ok("patch", "promote", version2, "candidate").out.startswith(
        f"Patch version {version2} promoted to candidate: now visible in edge,")
    assert first.name in _names(admin.json("tier", "patches", "beta")["patches"])
    out = admin.ok("patch", "promote-all", "beta", "stable").out
    assert out.startswith("Every patch of beta promoted to stable: now visible in")
    assert first.name in _names(admin.json("patch", "list", "--tier", "stable", "--version", version)["patches"])

    blocked = admin.json("patch", "block", first.name, "--reason", "oops on arm")
    assert blocked["blocked"] is True and blocked["reason"] == "oops on arm"
    assert admin.json("patch", "list", "--version", version)["patches"][0]["blocked"] is True
    assert first.name in _names(admin.json("patch", "list", "--blocked")["patches"])
    entries = {e["filename"]: e for e in admin.json("patch", "blocklist")["blocklist"]}
    assert entries[first.name]["reason"] == "oops on arm"
    assert first.name in admin.ok("patch", "blocklist").out
    assert admin.server_download(first.name).status_code in (403, 404)  # a blocked patch is not served
    assert admin.ok("patch", "unblock", first.name).out == f"Patch {first.name} unblocked.\n"
    assert admin.server_download(first.name).content == first.read_bytes()

    assert admin.ok("patch", "remove", first.name).out == f"Patch {first.name} removed.\n"
    assert "(patch-not-found, HTTP 404)" in admin.fails("patch", "remove", first.name).err
    assert _names(admin.json("patch", "list", "--kernel", f"5.15.0-{abi}.{abi + 7}")["patches"]) == {second.name}
    assert "(invalid-patch-name, HTTP 400)" in admin.fails("patch", "block", "not-a-patch").err


def test_upload_checks_names_and_files_before_sending(admin, tmp_path):
    bad = tmp_path / "kernel-patch.tar.bz2"
    bad.write_bytes(b"x")
    good, _, version = patch_file(tmp_path)
    result = admin.fails("patch", "upload", good, bad, rc=2)
    assert "not a patch file name" in result.err and str(bad) in result.err
    assert admin.json("patch", "list", "--version", version)["patches"] == []  # nothing was sent
    assert "does not exist" in admin.fails("patch", "upload", tmp_path / "missing.tar.bz2", rc=2).err
    empty, _, _ = patch_file(tmp_path, content=b"")
    assert "(empty-upload, HTTP 400)" in admin.fails("patch", "upload", empty).err


def test_upload_shows_progress_on_a_terminal(admin, tmp_path):
    path, _, _ = patch_file(tmp_path, size=3 * 1024 * 1024)
    leader, follower = pty.openpty()
    try:
        completed = subprocess.run(admin.command + ["patch", "upload", str(path)], env=admin.env,
                                   stdout=subprocess.PIPE, stderr=follower, stdin=subprocess.DEVNULL, timeout=60)
        os.close(follower)
        follower = None
        chunks = []
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the terminal's other end is closed: all read
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(leader)
        if follower is not None:
            os.close(follower)
    progress = b"".join(chunks).decode()
    assert completed.returncode == 0, progress
    assert f"\r{path.name}: 100% 3.0 MiB of 3.0 MiB" in progress and progress.endswith("\r\n")
    assert completed.stdout.decode() == f"{path.name}: uploaded (3.0 MiB) in tier edge\n"


def test_upload_streams_without_reading_the_file_into_memory(admin, tmp_path):
    size = 40 * 1024 * 1024  # the CLI alone peaks near 30 MiB; reading this whole would double that
    path, _, version = patch_file(tmp_path, content=b"")
    with open(path, "wb") as handle:  # sparse: quick to make, real bytes (zeros) to read
        handle.truncate(size)
    # Measure the CLI's own peak memory: a wrapper runs it as its child.
    measure = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(rc)")
    completed = subprocess.run([sys.executable, "-c", measure] + admin.command + ["patch", "upload", str(path)],
                               env=admin.env, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    peak_mib = int(completed.stderr.strip().splitlines()[-1]) / 1024
    assert peak_mib < 55, f"the CLI peaked at {peak_mib:.0f} MiB for a {size >> 20} MiB upload"
    [row] = admin.json("patch", "list", "--version", version)["patches"]
    assert row["size"] == size


def test_upload_larger_than_the_server_takes(make_server, tmp_path):
    server = make_server(max_upload_size=1)
    admin = AdminCLI(server.url, tmp_path / "home")
    admin.login()
    path, _, _ = patch_file(tmp_path, size=1536 * 1024)
    result = admin.fails("patch", "upload", path)
    assert "(upload-too-large, HTTP 413)" in result.err
    # Past what waitress itself accepts, the server refuses before the app sees it.
    path, _, _ = patch_file(tmp_path, size=8 * 1024 * 1024)
    result = admin.fails("patch", "upload", path)
    assert result.err.startswith(f"error: {path.name}: ") and "(upload-too-large, HTTP 413)" in result.err
