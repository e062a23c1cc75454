"""Migrations from empty, `schema check|version|upgrade` exit codes, concurrent
upgrades under the advisory lock, and `serve` refusing bad config in one line."""

import json
import os
import subprocess
import sys
import threading

import psycopg2

from livepatch_app import schema


def run_cli(*args, env=None, timeout=60):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEPATCH_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "livepatch_app", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout)


def test_check_and_version_before_and_after_upgrade(make_database):
    dsn = make_database(migrate=False)
    required = schema.required_version()
    check = run_cli("schema", "check", "--database", dsn)
    assert check.returncode == 2, check.stderr
    version = json.loads(run_cli("schema", "version", "--database", dsn).stdout)
    assert version == {"current": 0, "required": required, "upgrade-required": True}
    upgrade = run_cli("schema", "upgrade", "--database", dsn)
    assert upgrade.returncode == 0, upgrade.stderr
    assert json.loads(upgrade.stdout)["applied"] == [m.version for m in schema.migrations()]
    assert run_cli("schema", "check", "--database", dsn).returncode == 0
    again = run_cli("schema", "upgrade", "--database", dsn)
    assert json.loads(again.stdout)["applied"] == []
    # The database from env works the same way.
    assert run_cli("schema", "check", env={"LIVEPATCH_DATABASE_URL": dsn}).returncode == 0


def test_schema_tables_exist_after_upgrade(make_database):
    dsn = make_database(migrate=True)
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute("SELECT name FROM tiers ORDER BY position")
        assert [r[0] for r in cur.fetchall()] == ["edge", "beta", "candidate", "stable"]
    conn.close()


def test_concurrent_upgrades_apply_each_migration_once(make_database):
    dsn = make_database(migrate=False)
    results, errors = [], []

    def upgrade():
        try:
            results.append(schema.upgrade(dsn))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=upgrade) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    applied = sorted(v for result in results for v in result)
    assert applied == [m.version for m in schema.migrations()]
    assert schema.status(dsn).upgrade_required is False


def test_unreachable_database_is_one_line():
    result = run_cli("schema", "check", "--database", "host=127.0.0.1 port=1 user=x password=topsecret dbname=x")
    assert result.returncode == 1
    assert result.stderr.startswith("error: database unavailable")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "topsecret" not in result.stderr and "Traceback" not in result.stderr


def test_serve_rejects_bad_config_in_one_line(tmp_path):
    config = tmp_path / "livepatch.yaml"
    config.write_text("port: 70000\ndatabase_url: host=/nowhere\n")
    result = run_cli("serve", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.strip() == "error: invalid port: 70000 is above the maximum 65535"
    result = run_cli("serve", env={"LIVEPATCH_URL_TEMPLATE": "http://x/patches/"})
    assert result.returncode == 1 and "invalid url_template" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_cli("serve")
    assert "invalid database_url" in result.stderr
