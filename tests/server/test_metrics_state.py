"""The state gauges of /metrics (database reachable, schema upgrade pending, sync
enabled, last sync outcome and success time) and the patch cache's failure
counter, seen over HTTP as Prometheus scrapes them."""

import time

from livetest import free_port
from test_sync_downstream import patch_name, sync_token, trigger, upload


def samples(server):
    """{series as written (name and labels): value} of one /metrics answer."""
    r = server.request("GET", "/metrics")
    assert r.status_code == 200, r.text
    found = {}
    for line in r.text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            found[series] = float(value)
    return found


def test_database_and_schema_gauges(make_server):
    server = make_server()
    s = samples(server)
    assert s["livepatch_server_database_up"] == 1
    assert s["livepatch_server_schema_upgrade_required"] == 0
    assert s["livepatch_server_sync_enabled"] == 0
    for absent in ("livepatch_server_sync_interval_seconds", "livepatch_server_sync_last_run_success",
                   "livepatch_server_sync_last_success_timestamp_seconds"):
        assert absent not in s

    behind = make_server(migrate=False)  # an empty database: every migration pending
    s = samples(behind)
    assert s["livepatch_server_database_up"] == 1 and s["livepatch_server_schema_upgrade_required"] == 1


def test_database_unreachable(make_server):
    # Nothing listens on this port: every connection is refused at once.
    server = make_server(database_url=f"host=127.0.0.1 port={free_port()} dbname=none user=none",
                         patch_sync_enabled=True, sync_upstream="http://127.0.0.1:1", sync_token="t")
    s = samples(server)
    assert s["livepatch_server_database_up"] == 0
    assert "livepatch_server_schema_upgrade_required" not in s  # not known: left out, not guessed
    assert "livepatch_server_sync_last_run_success" not in s
    assert s["livepatch_server_sync_enabled"] == 1
    # A request that needed the database was refused and counted.
    assert server.request("GET", "/v1/api/kernels/supported").status_code == 503
    assert samples(server)["livepatch_server_database_errors_total"] >= 1


def test_sync_outcome_gauges(make_server):
    upstream = make_server()
    upload(upstream, patch_name(), tier="stable")
    token = sync_token(upstream, "stable")
    down = make_server(patch_sync_enabled=True, sync_upstream=upstream.url, sync_token=token, sync_interval="30m")
    s = samples(down)
    assert s["livepatch_server_sync_enabled"] == 1 and s["livepatch_server_sync_interval_seconds"] == 1800
    assert "livepatch_server_sync_last_run_success" not in s  # no run yet
    assert "livepatch_server_sync_last_success_timestamp_seconds" not in s

    before = time.time()
    assert trigger(down)["result"] == "success"
    s = samples(down)
    assert s["livepatch_server_sync_last_run_success"] == 1
    succeeded = s["livepatch_server_sync_last_success_timestamp_seconds"]
    assert before - 5 <= succeeded <= time.time() + 5  # the database's clock, this machine's

    # The token revoked upstream: the next run fails; the last success stays.
    upstream.sql("DELETE FROM sync_tokens")
    assert trigger(down)["result"] == "failed"
    s = samples(down)
    assert s["livepatch_server_sync_last_run_success"] == 0
    assert s["livepatch_server_sync_last_success_timestamp_seconds"] == succeeded
    assert s['livepatch_server_sync_runs_total{result="failed"}'] == 1


def test_patch_cache_failure_is_counted_and_the_download_served(make_server, tmp_path):
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file where the cache folder should be")
    server = make_server(patch_cache_on=True, patch_cache_path=str(not_a_folder))
    data = upload(server, patch_name())
    r = server.request("GET", f"/v1/patches/{patch_name()}")
    assert r.status_code == 200 and r.content == data
    assert samples(server)['livepatch_server_patch_cache_errors_total{stage="open"}'] == 1
