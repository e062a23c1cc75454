"""Sync between two real servers, each on its own database: the downstream
(patch_sync_enabled, sync_upstream, sync_token) pulls from the upstream with a
tier-scoped sync token through the admin trigger."""

import os
import re
import time

import pytest

PATCH = "livepatch-{kernel}-{flavour}-{version}-{arch}.tar.bz2"


def patch_name(kernel="5.15.0-107.117", flavour="generic", version="107.1", arch="amd64"):
    return PATCH.format(kernel=kernel, flavour=flavour, version=version, arch=arch)


def upload(server, filename, tier=None):
    data = os.urandom(3000 + len(filename))
    r = server.admin("PUT", f"/v1/admin/patches/{filename}", data=data)
    assert r.status_code == 201, r.text
    if tier:
        version = re.search(r"-(\d+\.\d+)-[a-z0-9]+\.tar\.bz2$", filename).group(1)
        r = server.admin("POST", f"/v1/admin/patches/{version}/promote", json={"tier": tier})
        assert r.status_code == 200, r.text
    return data


def sync_token(server, tier, name=None, **extra):
    r = server.admin("POST", "/v1/admin/sync-tokens", json={"name": name or f"down-{tier}", "tier": tier, **extra})
    assert r.status_code == 200, r.text
    return r.json()["token"]


def trigger(server):
    r = server.admin("POST", "/v1/admin/sync/trigger", json={"wait": True})
    assert r.status_code == 200, r.text
    return r.json()


def held(server):
    """{filename: tiers} of the patches the server holds."""
    r = server.admin("GET", "/v1/admin/patches", params={"limit": 1000})
    assert r.status_code == 200, r.text
    return {p["filename"]: p["tiers"] for p in r.json()["patches"]}


@pytest.fixture
def upstream(make_server):
    return make_server()


@pytest.fixture
def downstream_for(make_server, upstream):
    def make(token, **config):
        return make_server(patch_sync_enabled=True, sync_upstream=upstream.url, sync_token=token, **config)

    return make


def test_sync_pulls_new_patches_once_within_the_tokens_tier(upstream, downstream_for):
    edge_only = patch_name(version="107.1")
    stable = patch_name(kernel="5.15.0-105.115", version="105.2")
    upload(upstream, edge_only)
    stable_bytes = upload(upstream, stable, tier="stable")
    token = sync_token(upstream, "stable")
    down = downstream_for(token)

    run = trigger(down)
    assert run["result"] == "success", run
    assert run["patches-added"] == 1 and run["bytes"] == len(stable_bytes) and run["error"] is None
    assert run["trigger"] == "manual" and run["finished"] is not None
    # Synced patches land in the downstream's first tier; the edge-only one was never offered.
    assert held(down) == {stable: ["edge"]}
    r = down.request("GET", f"/v1/patches/{stable}")
    assert r.status_code == 200 and r.content == stable_bytes

    # Nothing new upstream: a second run fetches nothing.
    again = trigger(down)
    assert (again["result"], again["patches-added"], again["bytes"]) == ("success", 0, 0)

    # A patch promoted upstream appears after the next run.
    newer = patch_name(kernel="5.15.0-107.117", version="107.2")
    newer_bytes = upload(upstream, newer, tier="stable")
    third = trigger(down)
    assert (third["result"], third["patches-added"], third["bytes"]) == ("success", 1, len(newer_bytes))
    assert set(held(down)) == {stable, newer}
    assert edge_only not in held(down)

    runs = down.admin("GET", "/v1/admin/sync/reports").json()["runs"]
    assert [r["id"] for r in runs] == [third["id"], again["id"], run["id"]]
    assert down.admin("GET", "/v1/admin/sync/reports", params={"limit": 1}).json()["runs"][0]["id"] == third["id"]
    status = down.request("GET", "/debug/status").json()["sync"]
    assert status["status"] == "OK" and status["last-run"]["id"] == third["id"]
    assert status["upstream"] == upstream.url
    metrics = down.request("GET", "/metrics").text
    assert 'livepatch_server_sync_runs_total{result="success"} 3' in metrics
    assert "livepatch_server_sync_patches_total 2" in metrics
    assert f"livepatch_server_sync_bytes_total {len(stable_bytes) + len(newer_bytes)}" in metrics


def test_edge_token_sees_edge_patches_and_servers_chain(upstream, downstream_for, make_server):
    edge_only = patch_name(version="107.1")
    upload(upstream, edge_only)
    middle = downstream_for(sync_token(upstream, "edge"))
    assert trigger(middle)["patches-added"] == 1
    # The downstream is itself an upstream for a third server.
    token = sync_token(middle, "edge", name="leaf")
    leaf = make_server(patch_sync_enabled=True, sync_upstream=middle.url, sync_token=token)
    assert trigger(leaf)["patches-added"] == 1
    assert held(leaf) == {edge_only: ["edge"]}


def test_rejected_token_fails_the_run_clearly(upstream, downstream_for):
    upload(upstream, patch_name(), tier="stable")
    token = sync_token(upstream, "stable", name="site")
    down = downstream_for(token)
    assert upstream.admin("DELETE", "/v1/admin/sync-tokens/site").status_code == 200
    run = trigger(down)
    assert run["result"] == "failed" and run["patches-added"] == 0
    assert "401" in run["error"] and "revoked" in run["error"] and "sync_token" in run["error"]
    assert token not in run["error"]
    body = down.request("GET", "/debug/status")
    assert body.status_code == 200 and body.json()["sync"]["status"] == "last run failed"
    assert token not in body.text and token not in down.admin("GET", "/v1/admin/sync/reports").text
    assert 'livepatch_server_sync_runs_total{result="failed"} 1' in down.request("GET", "/metrics").text
    assert held(down) == {}


def test_expired_token_fails_the_run(upstream, downstream_for):
    from datetime import datetime, timedelta, timezone

    soon = (datetime.now(timezone.utc) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    down = downstream_for(sync_token(upstream, "stable", **{"valid-until": soon}))
    assert trigger(down)["result"] == "success"
    time.sleep(2.2)
    run = trigger(down)
    assert run["result"] == "failed" and "expired" in run["error"]


def test_downstream_filters(upstream, downstream_for):
    wanted = patch_name(kernel="5.15.0-107.117", flavour="generic", arch="amd64", version="107.1")
    names = [
        wanted,
        patch_name(kernel="5.15.0-107.117", flavour="generic", arch="arm64", version="107.1"),  # arch
        patch_name(kernel="5.15.0-107.117", flavour="azure", arch="amd64", version="107.1"),  # flavour
        patch_name(kernel="4.15.0-210.221", flavour="aws", arch="amd64", version="107.1"),  # too old
    ]
    for name in names:
        upload(upstream, name)
    token = sync_token(upstream, "edge")
    # The upstream filters the snapshot itself.
    snap = upstream.request("GET", "/v1/sync/snapshot", headers={"Authorization": f"Bearer {token}"},
                            params={"flavours": "generic,aws", "architectures": "amd64",
                                    "minimum-kernel-version": "5.4"}).json()
    assert [p["filename"] for p in snap["patches"]] == [wanted]
    entry = snap["patches"][0]
    assert (entry["kernel"], entry["flavour"], entry["architecture"], entry["version"], entry["tiers"]) == (
        "5.15.0-107.117", "generic", "amd64", "107.1", ["edge"])
    assert len(entry["sha256"]) == 64 and entry["size"] > 0
    down = downstream_for(token, sync_flavors="generic,aws", sync_architectures="amd64",
                          sync_minimum_kernel_version="5.4")
    assert trigger(down)["patches-added"] == 1
    assert set(held(down)) == {wanted}
    # Default filters (generic, lowlatency, aws; every arch; every kernel) take three of the four.
    everything = downstream_for(token)
    assert trigger(everything)["patches-added"] == 3


def test_upstream_blocklist_is_mirrored(upstream, downstream_for):
    first, second = patch_name(version="107.1"), patch_name(kernel="5.15.0-105.115", version="105.1")
    upload(upstream, first, tier="stable")
    upload(upstream, second, tier="stable")
    down = downstream_for(sync_token(upstream, "stable"))
    assert trigger(down)["patches-added"] == 2
    upstream.admin("POST", f"/v1/admin/patches/{first}/block", json={"reason": "bad patch"})
    down.admin("POST", f"/v1/admin/patches/{second}/block", json={"reason": "ours"})
    assert trigger(down)["result"] == "success"
    entries = {e["filename"]: e for e in down.admin("GET", "/v1/admin/blocklist").json()["blocklist"]}
    assert entries[first]["source"] == "upstream" and entries[first]["reason"] == "bad patch"
    assert entries[second]["source"] == "local"
    assert down.request("GET", f"/v1/patches/{first}").status_code == 403
    # Unblocked upstream: the mirrored entry goes; our own entry stays.
    upstream.admin("POST", f"/v1/admin/patches/{first}/unblock")
    assert trigger(down)["result"] == "success"
    entries = {e["filename"]: e["source"] for e in down.admin("GET", "/v1/admin/blocklist").json()["blocklist"]}
    assert entries == {second: "local"}
    assert down.request("GET", f"/v1/patches/{first}").status_code == 200


def test_machine_count_reported_upstream(upstream, downstream_for):
    token = sync_token(upstream, "stable")
    bucketed = downstream_for(token, sync_send_machine_reports=True, deployment_id="site-bucket")
    r = bucketed.admin("POST", "/v1/admin/auth-token", json={"id": "fleet", "tier": "stable"})
    enable = {"Authorization": f"Bearer {r.json()['token']}"}
    for i in range(3):
        assert bucketed.request("PUT", f"/v1/client/machine-{i:02d}", headers=enable).status_code == 200
    assert trigger(bucketed)["result"] == "success"
    exact = downstream_for(token, sync_send_machine_reports=True, sync_machine_count="exact")
    assert trigger(exact)["result"] == "success"
    silent = downstream_for(token, deployment_id="site-silent")
    assert trigger(silent)["result"] == "success"
    reported = {d["deployment-id"]: d for d in upstream.admin("GET", "/v1/admin/sync/deployments").json()["deployments"]}
    assert set(reported) >= {"site-bucket"} and "site-silent" not in reported
    assert (reported["site-bucket"]["machine-count"], reported["site-bucket"]["exact"]) == (1, False)
    # No deployment_id configured: the server made one up, and keeps it.
    (made_up,) = set(reported) - {"site-bucket"}
    assert (reported[made_up]["machine-count"], reported[made_up]["exact"]) == (0, True)
    assert trigger(exact)["result"] == "success"
    assert len(upstream.admin("GET", "/v1/admin/sync/deployments").json()["deployments"]) == 2


def test_trigger_in_background_and_bad_input(upstream, downstream_for, make_server):
    upload(upstream, patch_name(), tier="stable")
    down = downstream_for(sync_token(upstream, "stable"))
    r = down.admin("POST", "/v1/admin/sync/trigger")
    assert r.status_code == 202
    started = r.json()
    assert started["result"] == "running" and started["finished"] is None
    deadline = time.time() + 20
    while time.time() < deadline:
        latest = down.admin("GET", "/v1/admin/sync/reports").json()["runs"][0]
        if latest["result"] != "running":
            break
        time.sleep(0.1)
    assert latest["id"] == started["id"] and latest["result"] == "success" and latest["patches-added"] == 1

    for body in ('{"wait": "yes"}', "[true]", "{bad"):
        r = down.admin("POST", "/v1/admin/sync/trigger", data=body)
        assert r.status_code == 400 and r.json()["code"] in ("invalid-field", "invalid-json"), body
    r = down.admin("GET", "/v1/admin/sync/reports", params={"limit": "0"})
    assert r.status_code == 400 and r.json()["code"] == "invalid-query"

    off = make_server()
    r = off.admin("POST", "/v1/admin/sync/trigger", json={"wait": True})
    assert r.status_code == 409 and r.json()["code"] == "sync-disabled"  # a valid request: the settings say no
    assert off.request("GET", "/debug/status").json()["sync"] == {"enabled": False}
    tokenless = make_server(patch_sync_enabled=True, sync_upstream=upstream.url)
    r = tokenless.admin("POST", "/v1/admin/sync/trigger", json={"wait": False})
    assert r.status_code == 409 and r.json()["code"] == "sync-disabled" and "sync_token" in r.json()["error"]
    assert tokenless.request("GET", "/debug/status").json()["sync"]["status"] == "sync token not set"


def test_scheduled_sync_runs_on_the_leader_only(upstream, downstream_for):
    from livepatch_app.sync.scheduler import job

    upload(upstream, patch_name(), tier="stable")
    token = sync_token(upstream, "stable")
    follower = downstream_for(token, leader=False)
    assert job(follower.app) is None
    leader = downstream_for(token, sync_interval="1h")
    periodic = job(leader.app)
    assert periodic.interval == 3600
    periodic.first_delay = 0
    periodic.start()
    try:
        deadline = time.time() + 20
        runs = []
        while time.time() < deadline:
            runs = leader.admin("GET", "/v1/admin/sync/reports").json()["runs"]
            if runs and runs[0]["result"] != "running":
                break
            time.sleep(0.1)
    finally:
        periodic.stop()
        periodic.join(10)
    assert [(r["trigger"], r["result"], r["patches-added"]) for r in runs] == [("schedule", "success", 1)]
