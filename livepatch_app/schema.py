"""Numbered SQL migrations (migrations/NNNN_name.sql), tracked in schema_migrations.

Upgrades run under a PostgreSQL advisory lock, so two units upgrading at once
apply each migration exactly once; each migration is its own transaction.
"""

import re
from dataclasses import dataclass
from importlib import resources

import psycopg2

from .db import DatabaseUnavailable

MIGRATION_LOCK_ID = 0x4C50_5343  # "LPSC": one application-wide lock id
_NAME_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations():
    found = []
    for entry in resources.files("livepatch_app.migrations").iterdir():
        match = _NAME_RE.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    return found


def required_version():
    all_migrations = migrations()
    return all_migrations[-1].version if all_migrations else 0


def _ensure_table(cur):
    cur.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version    integer PRIMARY KEY,
               name       text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )


def current_version(cur):
    cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
    row = cur.fetchone()
    exists = row[0] if not isinstance(row, dict) else list(row.values())[0]
    if not exists:
        return 0
    cur.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
    row = cur.fetchone()
    return row[0] if not isinstance(row, dict) else list(row.values())[0]


@dataclass(frozen=True)
class SchemaStatus:
    current: int
    required: int

    @property
    def upgrade_required(self):
        return self.current < self.required

    @property
    def ahead(self):
        return self.current > self.required

    def as_dict(self):
        return {"current": self.current, "required": self.required, "upgrade-required": self.upgrade_required}


def _connect(dsn):
    try:
        return psycopg2.connect(dsn, connect_timeout=5, application_name="livepatch-schema")
    except psycopg2.OperationalError as exc:
        from .db import redact_dsn

        text = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection failed"
        raise DatabaseUnavailable(redact_dsn(text)) from None


def status(dsn):
    conn = _connect(dsn)
    try:
        with conn.cursor() as cur:
            return SchemaStatus(current_version(cur), required_version())
    finally:
        conn.close()


def upgrade(dsn):
    """Apply every pending migration. Returns the list of versions applied."""
    conn = _connect(dsn)
    conn.autocommit = True
    applied = []
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
            try:
                _ensure_table(cur)
                done = current_version(cur)
                for migration in migrations():
                    if migration.version <= done:
                        continue
                    cur.execute("BEGIN")
                    try:
                        cur.execute(migration.sql)
                        cur.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                            (migration.version, migration.name),
                        )
                        cur.execute("COMMIT")
                    except BaseException:
                        cur.execute("ROLLBACK")
                        raise
                    applied.append(migration.version)
            finally:
                cur.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))
    finally:
        conn.close()
    return applied
