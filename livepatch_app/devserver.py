"""`make run`: the server on an embedded PostgreSQL (embedded_pg) under ./.livepatch,
migrations applied, an admin user created unless LIVEPATCH_AUTH_BASIC_USERS is
set; every LIVEPATCH_* variable still applies."""

import os
import secrets
import signal
import sys

from .config import ConfigError, load_config
from .db import DatabaseUnavailable


def embedded_postgres(state_dir, dbname="livepatch"):
    """Starts (or reuses) an embedded PostgreSQL under state_dir; returns it and a DSN."""
    import psycopg2

    from .embedded_pg import EmbeddedPostgres, EmbeddedPostgresError

    server = EmbeddedPostgres(os.path.join(state_dir, "postgres"))
    try:
        admin_dsn = server.start()
    except EmbeddedPostgresError as exc:
        sys.exit(f"error: embedded PostgreSQL: {exc}")
    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{dbname}"')
    conn.close()
    return server, server.dsn(dbname)


def _dev_admin(state_dir):
    """A persistent dev admin: the password is kept (0600) so later runs print it again."""
    from .auth_users import hash_password

    path = os.path.join(state_dir, "admin-password")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            password = handle.read().strip()
    else:
        password = secrets.token_urlsafe(12)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
    return "admin", password, f"admin:{hash_password(password)}"


def run_dev(config_path, state_dir):
    from . import schema
    from .logs import setup_logging
    from .serve import serve

    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    overrides = {}
    server = None
    if not os.environ.get("LIVEPATCH_DATABASE_URL"):
        server, overrides["database_url"] = embedded_postgres(state_dir)
    login = None
    if not os.environ.get("LIVEPATCH_AUTH_BASIC_USERS"):
        user, password, entry = _dev_admin(state_dir)
        overrides["auth_basic_users"] = entry
        login = (user, password)
    try:
        config = load_config(config_path, overrides=overrides)
    except ConfigError as exc:
        sys.exit(f"error: {exc}")
    if not os.environ.get("LIVEPATCH_FILESTORE_PATH") and config.store_type == "filesystem":
        config.values["filestore_path"] = os.path.abspath(os.path.join(state_dir, "patches"))
    if not os.environ.get("LIVEPATCH_PATCH_CACHE_PATH"):
        config.values["patch_cache_path"] = os.path.abspath(os.path.join(state_dir, "cache"))
    url = f"http://{config.bind_address}:{config.port}"
    if not config.url_template:
        config.values["url_template"] = url + "/v1/patches/{filename}"
    try:
        applied = schema.upgrade(config.database_url)
    except DatabaseUnavailable as exc:
        sys.exit(f"error: database unavailable: {exc}")
    print(f"Livepatch server: {url}", flush=True)
    if applied:
        print(f"  schema migrations applied: {', '.join(map(str, applied))}")
    if login:
        print(f"  admin login: {login[0]} / {login[1]}")
        print(f"  web console: {url}/console/ (log in as {login[0]} with that password)")
        print(f"  try: curl -u {login[0]}:{login[1]} -X POST {url}/v1/admin/login")
        print(f"       LIVEPATCH_URL={url} .venv/bin/livepatch-admin login -a {login[0]}:{login[1]}")
    else:
        print("  admin users: from LIVEPATCH_AUTH_BASIC_USERS")
        print(f"  web console: {url}/console/")
    print("  Ctrl-C stops the server (and the embedded PostgreSQL)", flush=True)
    setup_logging(config.log_level)
    # SIGTERM (e.g. from a test harness or `kill`) stops like Ctrl-C, so the
    # embedded PostgreSQL is stopped too instead of being left running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        serve(config)
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        sys.exit(f"error: cannot listen on {config.bind_address}:{config.port}: {exc.strerror}")
    finally:
        if server is not None:
            server.stop()
