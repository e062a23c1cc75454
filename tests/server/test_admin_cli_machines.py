"""livepatch-admin for clients: auth tokens, machines, reports, and a whole operator
session that ends with a real client check-in showing up in the report."""

import uuid

import requests

from livetest import ADMIN_PASSWORD
from test_admin_cli import admin, cli, shared_server, unique  # noqa: F401 (fixtures)
from test_admin_cli_patches import patch_file


def enable(server, machine_id, auth_token):
    r = requests.put(f"{server.url}/v1/client/{machine_id}", headers={"Authorization": f"Bearer {auth_token}"},
                     timeout=30)
    return r


def check_in(server, machine_id, machine_token, kernel, state="applied", version=None):
    body = {"kernel": kernel, "architecture": "amd64", "patch-state": state, "client-version": "10.8.0",
            "boot-time": "2026-01-01T00:00:00Z", "uptime": 3600, "cpu-model": "test cpu"}
    if version:
        body["patch-version"] = version
    return requests.post(f"{server.url}/v1/client/{machine_id}/updates", json=body,
                         headers={"Authorization": f"Bearer {machine_token}"}, timeout=30)


def test_whole_session(shared_server, cli, tmp_path):
    server = shared_server
    # Log in, make a tier of our own, upload a patch and promote it there.
    login = cli.ok("login", "-a", f"admin:{ADMIN_PASSWORD}")
    tier = unique("fleet")
    cli.ok("tier", "create", tier)
    path, abi, version = patch_file(tmp_path)
    kernel = f"5.15.0-{abi}.{abi + 7}-generic"
    upload = cli.ok("patch", "upload", path)
    promote = cli.ok("patch", "promote", version, tier)
    assert tier in promote.out

    # An auth token for the tier: table output is the token alone, for $(...).
    created = cli.ok("auth-token", unique("web"), tier, "--max-machines", "2")
    token = created.out.strip()
    assert len(token) >= 32 and created.err == ""

    # A client enables with it and checks in: it is offered our patch.
    machine_id = uuid.uuid4().hex
    r = enable(server, machine_id, token)
    assert r.status_code == 200 and r.json()["tier"] == tier
    machine_token = r.json()["machine-token"]
    r = check_in(server, machine_id, machine_token, kernel, state="nothing-to-apply")
    assert r.status_code == 200
    [offer] = r.json()["patches"]
    assert offer["filename"] == path.name and offer["version"] == version
    r = check_in(server, machine_id, machine_token, kernel, state="applied", version=version)
    assert r.status_code == 200

    # The reports show it.
    report = cli.json("report", "machines", tier)
    assert report["total"] == 1 and report["tier"] == tier
    [row] = report["machines"]
    assert row["machine-id"] == machine_id and row["patch-state"] == "applied"
    assert row["patch-version"] == version and row["kernel"] == kernel
    assert cli.json("report", "machines", tier, version, "applied")["total"] == 1
    table = cli.ok("report", "machines", tier).out.splitlines()
    assert table[0].split()[:3] == ["MACHINE-ID", "TIER", "KERNEL"]
    assert table[1].split()[:3] == [machine_id, tier, kernel]
    assert f"tier:  {tier}" in table or f"tier: {tier}" in table
    health = cli.json("report", "patch-health", tier, version)
    assert health["total"] == 1 and health["states"]["applied"] == 1
    out = cli.ok("report", "patch-health", tier, version).out
    assert "applied:" in out and "total:" in out
    assert "No machines match." in cli.ok("report", "machines", tier, version, "unapplied").out
    assert "(invalid-query, HTTP 400)" in cli.fails("report", "machines", tier, version, "sleepy").err
    assert "(tier-not-found, HTTP 404)" in cli.fails("report", "patch-health", unique("nope"), version).err

    # Machines: listed, filtered, forgotten.
    listed = cli.json("machine", "list", "--tier", tier)
    assert [m["machine-id"] for m in listed["machines"]] == [machine_id]
    assert cli.json("machine", "list", "--kernel", kernel, "--limit", "5", "--offset", "0")["total"] == 1
    labels = {t["id"]: t for t in cli.json("auth-tokens", "list")["auth-tokens"]}
    [mine] = [t for t in labels.values() if t["tier"] == tier]
    assert mine["machines-enabled"] == 1 and mine["max-machines"] == 2
    assert cli.ok("machine", "forget", machine_id).out == f"Machine {machine_id} forgotten.\n"
    assert check_in(server, machine_id, machine_token, kernel).status_code == 401
    assert "(machine-not-found, HTTP 404)" in cli.fails("machine", "forget", machine_id).err
    assert cli.json("report", "machines", tier)["total"] == 0

    # Revoking the auth token stops new enables.
    assert cli.ok("auth-tokens", "revoke", mine["id"]).out == f"Auth token {mine['id']} revoked.\n"
    assert enable(server, uuid.uuid4().hex, token).status_code == 401
    assert [t for t in cli.json("auth-tokens", "list")["auth-tokens"] if t["id"] == mine["id"]][0]["revoked"]
    assert "(token-not-found, HTTP 404)" in cli.fails("auth-tokens", "revoke", unique("never")).err

    # Nothing secret on any output but the created token, once.
    cli.ok("logout")
    for text in (login.out, login.err, upload.out, upload.err, promote.out):
        assert ADMIN_PASSWORD not in text and token not in text


def test_auth_token_options_and_json(admin):
    label = unique("json")
    created = admin.json("auth-token", label, "beta", "--valid-until", "2099-01-31T00:00:00Z", "--max-machines", "3")
    assert created["id"] == label and created["tier"] == "beta" and len(created["token"]) >= 32
    assert created["valid-until"] == "2099-01-31T00:00:00Z" and created["max-machines"] == 3
    listed = admin.json("auth-tokens", "list")["auth-tokens"]
    [row] = [row for row in listed if row["id"] == label]
    assert "token" not in row and created["token"] not in admin.ok("auth-tokens", "list").out
    assert "(invalid-field, HTTP 400)" in admin.fails("auth-token", "bad label!", "beta").err
    assert "Invalid value for '--max-machines'" in admin.fails("auth-token", "x", "beta", "--max-machines",
                                                               "many", rc=2).err


def test_machine_filters_are_checked(admin):
    assert "(invalid-machine-id, HTTP 400)" in admin.fails("machine", "forget", "not a machine").err
    assert "(invalid-query, HTTP 400)" in admin.fails("machine", "list", "--state", "sleepy").err
    assert "(tier-not-found, HTTP 404)" in admin.fails("machine", "list", "--tier", unique("nope")).err
    assert "x>=1" in admin.fails("machine", "list", "--limit", "0", rc=2).err
