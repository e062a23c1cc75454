"""Shared fixtures: a real PostgreSQL (embedded pgserver, or LIVEPATCH_TEST_DATABASE_URL)
and live servers: the real app under real waitress on a free loopback port."""

import os
import socket
import tempfile
import threading
import time
import uuid

import psycopg2
import pytest
import requests

from livepatch_app import schema
from livepatch_app.auth_users import hash_password
from livepatch_app.config import load_config

ADMIN_USER = "admin"
ADMIN_PASSWORD = "s3cret-test-pass"


@pytest.fixture(scope="session")
def admin_users_entry():
    return f"{ADMIN_USER}:{hash_password(ADMIN_PASSWORD, rounds=4)}"


@pytest.fixture(scope="session")
def pg_admin_dsn(tmp_path_factory):
    """A DSN with the right to create databases."""
    dsn = os.environ.get("LIVEPATCH_TEST_DATABASE_URL")
    if dsn:
        yield dsn
        return
    import pgserver

    # pgserver's unix socket path must stay short: use a short temp dir.
    folder = tempfile.mkdtemp(prefix="lp-pg-")
    server = pgserver.get_server(folder, cleanup_mode="delete")
    # A throwaway cluster: durability only slows the tests down.
    conn = psycopg2.connect(server.get_uri())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("ALTER SYSTEM SET fsync = off")
        cur.execute("ALTER SYSTEM SET synchronous_commit = off")
        cur.execute("SELECT pg_reload_conf()")
    conn.close()
    yield server.get_uri()
    server.cleanup()


def _with_dbname(dsn, dbname):
    conn = psycopg2.connect(dsn)
    params = conn.get_dsn_parameters()
    conn.close()
    parts = [f"dbname={dbname}"]
    for key in ("host", "port", "user"):
        if params.get(key):
            parts.append(f"{key}={params[key]}")
    password = psycopg2.extensions.parse_dsn(dsn).get("password") if "=" in dsn or "://" in dsn else None
    if password:
        parts.append(f"password={password}")
    return " ".join(parts)


def _create_database(admin_dsn, name, template=None):
    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    conn.close()


@pytest.fixture(scope="session")
def migrated_template(pg_admin_dsn):
    """A migrated database that fresh test databases are copied from (fast)."""
    name = "lp_template_" + uuid.uuid4().hex[:8]
    _create_database(pg_admin_dsn, name)
    schema.upgrade(_with_dbname(pg_admin_dsn, name))
    yield name
    conn = psycopg2.connect(pg_admin_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


@pytest.fixture
def make_database(pg_admin_dsn, migrated_template):
    """Factory: a fresh database (dropped afterwards), migrated or empty; returns its DSN."""
    created = []

    def make(migrate=True):
        name = "lp_test_" + uuid.uuid4().hex[:12]
        _create_database(pg_admin_dsn, name, migrated_template if migrate else None)
        created.append(name)
        return _with_dbname(pg_admin_dsn, name)

    yield make
    conn = psycopg2.connect(pg_admin_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        for name in created:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """The real app under real waitress, in a thread, on a free loopback port."""

    def __init__(self, config, app):
        from livepatch_app.serve import make_server

        self.config = config
        self.app = app
        self.server = make_server(app, config)
        self.url = f"http://127.0.0.1:{config.port}"
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self._wait()

    def _run(self):
        try:
            self.server.run()
        except OSError:
            if not self.stopping:  # closing the socket under the loop is the way to stop it
                raise

    def _wait(self):
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                requests.get(self.url + "/", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("live server did not start")

    def stop(self):
        self.stopping = True
        self.server.close()
        # Waitress's worker threads outlive close(); end them, or a long run runs out of threads.
        self.server.task_dispatcher.shutdown()
        self.app.extensions["livepatch.db"].close()

    def sql(self, statement, params=()):
        """Runs one statement on the server's database (to arrange or inspect
        state a test cannot reach over HTTP); -> rows, or the row count."""
        conn = psycopg2.connect(self.config.database_url)
        try:
            with conn, conn.cursor() as cur:
                cur.execute(statement, params)
                return cur.fetchall() if cur.description else cur.rowcount
        finally:
            conn.close()

    # Small request helpers, so tests read as HTTP.
    def request(self, method, path, **kwargs):
        kwargs.setdefault("timeout", 30)
        return requests.request(method, self.url + path, **kwargs)

    def admin(self, method, path, **kwargs):
        kwargs.setdefault("auth", (ADMIN_USER, ADMIN_PASSWORD))
        return self.request(method, path, **kwargs)


@pytest.fixture
def make_server(make_database, admin_users_entry, tmp_path):
    """Factory: a live server on a fresh migrated database; keyword args are config overrides."""
    servers = []

    def make(database_url=None, migrate=True, prepare=None, **overrides):
        from livepatch_app.app import create_app
        from livepatch_app.serve import build_wsgi

        port = free_port()
        values = {
            "database_url": database_url or make_database(migrate=migrate),
            "port": port,
            "bind_address": "127.0.0.1",
            "auth_basic_users": admin_users_entry,
            "url_template": f"http://127.0.0.1:{port}/v1/patches/{{filename}}",
            "filestore_path": str(tmp_path / f"store-{port}"),
            "log_level": "warning",
            # Small limits keep waitress's thread pool small (threads = both + 4).
            "concurrency_limit": 8,
            "burst_limit": 8,
        }
        values.update(overrides)
        config = load_config(None, environ={}, overrides=values)
        app = create_app(config)
        if prepare:  # e.g. a test-only route, added before the first request
            prepare(app)
        app = build_wsgi(config, app)
        server = LiveServer(config, app)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(make_server):
    return make_server()
