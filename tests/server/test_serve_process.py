"""The real `python -m livepatch_app serve` process: JSON logs on stdout that never
carry a password, a token or the DSN's password."""

import json
import os
import subprocess
import sys

import requests

from livetest import ADMIN_PASSWORD, ADMIN_USER, free_port, wait_until_up


def test_serve_logs_json_without_secrets(make_database, admin_users_entry, tmp_path):
    dsn = make_database()
    port = free_port()
    config = tmp_path / "livepatch.yaml"
    config.write_text(f"port: {port}\nbind_address: 127.0.0.1\nlog_level: info\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEPATCH_")}
    env.update({"LIVEPATCH_DATABASE_URL": dsn, "LIVEPATCH_AUTH_BASIC_USERS": admin_users_entry})
    proc = subprocess.Popen([sys.executable, "-m", "livepatch_app", "serve", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url)
        token = requests.post(url + "/v1/admin/login", auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=10).json()["token"]
        requests.post(url + "/v1/admin/login", auth=(ADMIN_USER, "wrong-password-xyz"), timeout=10)
        requests.post(url + "/v1/admin/logout", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=10)
    lines = [line for line in output.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is JSON
    assert any(r.get("event") == "login" and r.get("user") == ADMIN_USER for r in records)
    assert any(r.get("event") == "authn_failed" for r in records)
    assert any(r.get("path") == "/v1/admin/logout" and r.get("status") == 200 for r in records)
    for secret in (ADMIN_PASSWORD, "wrong-password-xyz", token):
        assert secret not in output
    password = dsn.split("password=")[1].split()[0] if "password=" in dsn else None
    if password:
        assert password not in output


def test_serve_opens_its_pool_before_the_first_request(make_database, admin_users_entry, tmp_path):
    """The pool is warm when serving starts: no request waits for a connect."""
    from livetest import sessions_named, start_serve_process, wait_for

    dsn = make_database()
    process, url = start_serve_process(dsn, admin_users_entry, tmp_path, dbconn_max=3)
    try:
        assert wait_for(lambda: sessions_named(dsn, "livepatch") == 3, what="three pooled connections")
    finally:
        process.terminate()
        process.wait(10)
