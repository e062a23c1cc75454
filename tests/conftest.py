"""Shared fixtures: a real PostgreSQL (embedded_pg, or LIVEPATCH_TEST_DATABASE_URL)
and live servers: the real app under real waitress on a free loopback port."""

import ctypes
import os
import tempfile
import uuid

import pytest
from livetest import (ADMIN_PASSWORD, ADMIN_USER, create_database, drop_database, start_serve_process, start_server,
                      stop_process, with_dbname)

from livepatch_app import schema
from livepatch_app.auth_users import hash_password


PR_SET_CHILD_SUBREAPER = 36  # prctl(2)


def pytest_configure(config):
    """Orphans of the run (simulator controllers, daemonised PostgreSQL) become our
    children, not PID 1's: PID 1 on these machines does not reap, so every one
    would stay behind as a zombie. pytest_unconfigure reaps them."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def pytest_unconfigure(config):
    reap_children()


# Test files by cost, heaviest first (paths relative to tests/; a folder ends with "/").
# make test's xdist workers take files in this order (--no-loadscope-reorder; by default
# xdist starts with the files holding the most tests, which left the few-test, minutes-long
# end-to-end modules to one worker at the end of the run).
HEAVY_FIRST = ("e2e/", "server/test_openapi_fuzz.py", "jujusim/", "charm/", "browser/")


def pytest_collection_modifyitems(config, items):
    def rank(item):
        path = os.path.relpath(str(item.path), os.path.dirname(__file__)).replace(os.sep, "/")
        return next((n for n, prefix in enumerate(HEAVY_FIRST) if path.startswith(prefix)), len(HEAVY_FIRST))

    items.sort(key=rank)  # stable: a file's tests keep their order


def reap_children():
    """Collects every child that has exited (never blocks)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


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
    from livepatch_app.embedded_pg import EmbeddedPostgres

    # A throwaway cluster: durability only slows the tests down.
    server = EmbeddedPostgres(tempfile.mkdtemp(prefix="lp-pg-"), durable=False)
    yield server.start()
    server.delete()


@pytest.fixture(scope="session")
def migrated_template(pg_admin_dsn):
    """A migrated database that fresh test databases are copied from (fast)."""
    name = "lp_template_" + uuid.uuid4().hex[:8]
    create_database(pg_admin_dsn, name)
    schema.upgrade(with_dbname(pg_admin_dsn, name))
    yield name
    drop_database(pg_admin_dsn, name)


@pytest.fixture
def make_database(pg_admin_dsn, migrated_template):
    """Factory: a fresh database (dropped afterwards), migrated or empty; returns its DSN."""
    created = []

    def make(migrate=True):
        name = "lp_test_" + uuid.uuid4().hex[:12]
        create_database(pg_admin_dsn, name, migrated_template if migrate else None)
        created.append(name)
        return with_dbname(pg_admin_dsn, name)

    yield make
    drop_database(pg_admin_dsn, *created)


@pytest.fixture
def make_server(make_database, admin_users_entry, tmp_path):
    """Factory: a live server on a fresh migrated database; keyword args are config overrides."""
    servers = []

    def make(database_url=None, migrate=True, prepare=None, **overrides):
        server = start_server(database_url or make_database(migrate=migrate), admin_users_entry,
                              tmp_path, prepare=prepare, **overrides)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(make_server):
    return make_server()


@pytest.fixture
def serve_process(make_database, admin_users_entry, tmp_path):
    """Factory: the real `python -m livepatch_app serve` process on a fresh migrated
    database (keyword args: config settings) -> (Popen, url); stopped afterwards."""
    processes = []

    def start(**config):
        process, url = start_serve_process(make_database(), admin_users_entry, tmp_path, **config)
        processes.append(process)
        return process, url

    yield start
    for process in processes:
        stop_process(process)
