"""The seeded 100,000-machine database of the "scale" section, kept between runs: a
durable embedded PostgreSQL under .livepatch/bench/ holds it as a template named after
a hash of the migrations and the seed code (scale_seed.py), so a change to either
seeds again; each run works on a copy (`CREATE DATABASE ... TEMPLATE`), which takes
seconds where seeding takes minutes."""

import hashlib
import inspect
import os
import time
import uuid

import psycopg2

import scale_seed
from livetest import create_database, drop_database, with_dbname

from livepatch_app import schema
from livepatch_app.embedded_pg import EmbeddedPostgres, EmbeddedPostgresError

FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".livepatch", "bench", "pg")
_PREFIX = "lp_scale_"
_SEEDING = _PREFIX + "seeding"  # renamed once complete: a half-made seed is never used
COPY_PREFIX = _PREFIX + "run_"  # the databases of one run


def _key():
    digest = hashlib.sha256(inspect.getsource(scale_seed).encode())
    for migration in schema.migrations():
        digest.update(f"{migration.version} {migration.name}\n{migration.sql}".encode())
    return digest.hexdigest()[:12]


def start_cluster(folder=FOLDER):
    """The bench's persistent cluster, started; -> EmbeddedPostgres. One it cannot
    start (made by another PostgreSQL version, say) is made again."""
    pg = EmbeddedPostgres(folder, durable=True)
    try:
        pg.start()
    except EmbeddedPostgresError:
        pg.delete()
        pg = EmbeddedPostgres(folder, durable=True)
        pg.start()
    return pg


def _databases(admin_dsn):
    conn = psycopg2.connect(admin_dsn)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (_PREFIX + "%",))
        names = [row[0] for row in cur.fetchall()]
    conn.close()
    return names


def _seed(admin_dsn, name):
    drop_database(admin_dsn, _SEEDING)
    create_database(admin_dsn, _SEEDING)
    dsn = with_dbname(admin_dsn, _SEEDING)
    schema.upgrade(dsn)
    conn = psycopg2.connect(dsn)
    try:
        seeded_at = scale_seed.seed(conn)
        conn.autocommit = True
        with conn.cursor() as cur:
            # Frozen and all-visible, with fresh statistics: a copy needs no vacuum.
            cur.execute("VACUUM (FREEZE, ANALYZE)")
    finally:
        conn.close()
    final = f"{name}_{seeded_at}"
    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'ALTER DATABASE "{_SEEDING}" RENAME TO "{final}"')
    conn.close()
    return final


def template(admin_dsn):
    """-> (template database name, seed time in epoch seconds, seconds spent seeding:
    0 when the cached one was used). Drops every other database of the bench's
    (stale seeds, copies left by an interrupted run)."""
    name = _PREFIX + _key()
    found = [db for db in _databases(admin_dsn) if db.startswith(name + "_")]
    drop_database(admin_dsn, *[db for db in _databases(admin_dsn) if db not in found[:1]])
    spent = 0.0
    if not found:
        started = time.monotonic()
        found = [_seed(admin_dsn, name)]
        spent = time.monotonic() - started
    return found[0], int(found[0].rsplit("_", 1)[1]), spent


def copy(admin_dsn, template_name):
    """A new database copied from the template; -> its DSN. FILE_COPY copies the files
    rather than writing gigabytes of WAL (the PostgreSQL 15+ default, WAL_LOG)."""
    name = COPY_PREFIX + uuid.uuid4().hex[:8]
    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}" STRATEGY FILE_COPY')
    conn.close()
    return with_dbname(admin_dsn, name)



def drop_copies(admin_dsn):
    """Drops the databases of this run (gigabytes each)."""
    drop_database(admin_dsn, *[db for db in _databases(admin_dsn) if db.startswith(COPY_PREFIX)])
