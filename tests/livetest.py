"""Helpers for tests that talk to live servers: the admin credentials the test
servers accept, free loopback ports, test databases, and LiveServer (the real app
under real waitress). A module of its own, not conftest, so that test files in
any folder can import it without clashing with other folders' conftest modules."""

import contextlib
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time
import uuid

import psycopg2
import requests

from livepatch_app.context import services

ADMIN_USER = "admin"
ADMIN_PASSWORD = "s3cret-test-pass"


def with_dbname(dsn, dbname):
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


def create_database(admin_dsn, name, template=None):
    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    conn.close()


def drop_database(admin_dsn, *names):
    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        for name in names:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def sessions_named(dsn, application_name):
    """How many sessions of this database carry this application_name (the server's
    pool says "livepatch", the sync lock "livepatch-sync", ...)."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity"
                        " WHERE application_name = %s AND datname = current_database()", (application_name,))
            return cur.fetchone()[0]
    finally:
        conn.close()


def wait_for(predicate, timeout=30, what="the condition", poll=0.02):
    """Polls predicate() every `poll` seconds until it returns something true, and
    returns that; AssertionError past the timeout. For tests: wait on the
    condition, never on a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout} s")
        time.sleep(poll)


def wait_until_up(url, timeout=20):
    """Polls url + "/" until the server answers; RuntimeError past the timeout."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            requests.get(url + "/", timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError(f"server at {url} did not start within {timeout} s")


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
        wait_until_up(self.url)

    def _run(self):
        try:
            self.server.run()
        except OSError:
            if not self.stopping:  # closing the socket under the loop is the way to stop it
                raise

    def stop(self):
        self.stopping = True
        self.server.close()
        # Waitress's worker threads outlive close(); end them, or a long run runs out of threads.
        self.server.task_dispatcher.shutdown()
        services(self.app).download_index.stop()  # its listener holds a connection of its own
        services(self.app).db.close()

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


def start_server(database_url, admin_users_entry, folder, prepare=None, **overrides):
    """The real app under real waitress on a free port (stop it with .stop())."""
    from livepatch_app.app import create_app
    from livepatch_app.config import load_config

    port = free_port()
    values = {
        "database_url": database_url,
        "port": port,
        "bind_address": "127.0.0.1",
        "auth_basic_users": admin_users_entry,
        "url_template": f"http://127.0.0.1:{port}/v1/patches/{{filename}}",
        "filestore_path": os.path.join(str(folder), f"store-{port}"),
        "patch_cache_path": os.path.join(str(folder), f"cache-{port}"),
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
    return LiveServer(config, app)


@contextlib.contextmanager
def server_on_new_database(admin_dsn, template, admin_users_entry, folder, prefix="lp_test_", **overrides):
    """A live server on a database of its own (copied from `template`) for as long as
    the block runs; the server is stopped and the database dropped afterwards."""
    name = prefix + uuid.uuid4().hex[:12]
    create_database(admin_dsn, name, template)
    try:
        server = start_server(with_dbname(admin_dsn, name), admin_users_entry, folder, **overrides)
        try:
            yield server
        finally:
            server.stop()
    finally:
        drop_database(admin_dsn, name)


def start_serve_process(database_url, admin_users_entry, folder, **config):
    """The real `python -m livepatch_app serve` as a process of its own, configured by
    environment (keyword args: more LIVEPATCH_* settings); -> (Popen, url). Its output
    goes to the file `process.log_path`. Stop it with .terminate()."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LIVEPATCH_")}
    env.update({
        "LIVEPATCH_DATABASE_URL": database_url,
        "LIVEPATCH_PORT": str(port),
        "LIVEPATCH_BIND_ADDRESS": "127.0.0.1",
        "LIVEPATCH_AUTH_BASIC_USERS": admin_users_entry,
        "LIVEPATCH_LOG_LEVEL": "error",
        "LIVEPATCH_CONCURRENCY_LIMIT": "8",
        "LIVEPATCH_BURST_LIMIT": "4",
        "LIVEPATCH_FILESTORE_PATH": os.path.join(str(folder), f"store-{port}"),
        "LIVEPATCH_PATCH_CACHE_PATH": os.path.join(str(folder), f"cache-{port}"),
    })
    env.update({"LIVEPATCH_" + key.upper(): str(value) for key, value in config.items()})
    log_path = os.path.join(str(folder), f"serve-{port}.log")
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "livepatch_app", "serve"], env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    process.log_path = pathlib.Path(log_path)  # its output: JSON log lines
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 20
    while True:
        try:
            requests.get(url + "/", timeout=1)
            return process, url
        except requests.ConnectionError:
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                raise RuntimeError("server did not start: " + process.log_path.read_text()[-2000:])
            time.sleep(0.1)


def stop_process(process, timeout=10):
    """SIGTERM, then SIGKILL past `timeout` seconds; the process is reaped either way."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def process_memory(pid, key="VmRSS"):
    """A memory figure of /proc/<pid>/status (VmRSS, VmHWM, ...) in MiB."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1]) // 1024  # kB -> MiB
    raise KeyError(key)


class PeakMemory:
    """The peak resident memory (MiB) of a process during a with-block, as .peak;
    .before is its RSS at the start. VmHWM is reset at the start (Linux: write 5
    to clear_refs); where that is not allowed, VmRSS is sampled every few ms."""

    def __init__(self, pid):
        self.pid = pid
        self.before = self.peak = None
        self._done = threading.Event()
        self._sampler = None
        self._sampled = 0

    def __enter__(self):
        self.before = process_memory(self.pid)
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as handle:
                handle.write("5")
        except OSError:
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()
        return self

    def _sample(self):
        while not self._done.is_set():
            self._sampled = max(self._sampled, process_memory(self.pid))
            time.sleep(0.005)

    def __exit__(self, *exc):
        if self._sampler is None:
            self.peak = process_memory(self.pid, "VmHWM")
        else:
            self._done.set()
            self._sampler.join()
            self.peak = self._sampled
