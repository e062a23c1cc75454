"""PostgreSQL access: a small blocking connection pool and transaction helper.

Data-access modules (livepatch_app/data/) take a cursor; views open one with
`db.transaction()`. Connections older than `dbconn_max_lifetime` are replaced,
broken ones are dropped, and callers wait (bounded) for a free connection
instead of failing when the pool is busy.
"""

import re
import threading
import time
from contextlib import contextmanager

import psycopg2
import psycopg2.extensions
import psycopg2.extras


class PooledConnection(psycopg2.extensions.connection):
    """A pool connection that remembers which `Prepared` statements it holds."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.prepared = set()


class Prepared:
    """A hot-path statement that PostgreSQL parses and plans once per connection
    (PREPARE) and then only executes (EXECUTE): half of the server-side CPU of a
    check-in went to parsing and planning its two statements.

    `sql` uses %(key)s placeholders; `params` lists (key, PostgreSQL type) in the
    order of the PREPARE's $n. A prepared statement lives as long as its session,
    whatever becomes of the transaction that made it (PostgreSQL's PREPARE page),
    so the pool connection's set of names stays true. The pool connects straight to
    PostgreSQL (a transaction-mode pooler such as pgbouncer in between is not
    supported). Cursors of other connections (tests, tools) get the plain statement."""

    def __init__(self, name, sql, params):
        self.name, self.sql, self.keys = name, sql, [key for key, _ in params]
        numbered = sql
        for number, key in enumerate(self.keys, 1):
            numbered = numbered.replace(f"%({key})s", f"${number}")
        if "%(" in numbered:
            raise ValueError(f"{name}: a placeholder has no type in params")
        self.prepare_sql = f"PREPARE {name} ({', '.join(kind for _, kind in params)}) AS {numbered}"
        self.execute_sql = f"EXECUTE {name} ({', '.join(['%s'] * len(self.keys))})"

    def execute(self, cur, values):
        prepared = getattr(cur.connection, "prepared", None)
        if prepared is None:
            cur.execute(self.sql, values)
            return
        if self.name not in prepared:
            cur.execute(self.prepare_sql)
            prepared.add(self.name)
        cur.execute(self.execute_sql, [values[key] for key in self.keys])


class DatabaseUnavailable(Exception):
    """The database cannot be reached (or the pool is exhausted for too long)."""


def redact_dsn(dsn):
    """A DSN fit for logs: the password replaced, URL or key=value form."""
    dsn = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", dsn or "")
    return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", dsn)


class Database:
    def __init__(self, dsn, max_connections=10, max_lifetime=1800, wait_timeout=10.0):
        self.dsn = dsn
        self.max_connections = max_connections
        self.max_lifetime = max_lifetime
        self.wait_timeout = wait_timeout
        self._idle = []  # (connection, created_at)
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()

    def _connect(self):
        try:
            conn = psycopg2.connect(self.dsn, connect_timeout=5, application_name="livepatch",
                                    connection_factory=PooledConnection)
        except psycopg2.OperationalError as exc:
            # psycopg2's message can quote the DSN: keep only its first line, redacted.
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection failed"
            raise DatabaseUnavailable(redact_dsn(first)) from None
        return conn, time.monotonic()

    def _acquire(self):
        if not self._slots.acquire(timeout=self.wait_timeout):
            raise DatabaseUnavailable("all database connections are busy")
        try:
            while True:
                with self._lock:
                    item = self._idle.pop() if self._idle else None
                if item is None:
                    return self._connect()
                conn, created = item
                if conn.closed or time.monotonic() - created > self.max_lifetime:
                    conn.close()
                    continue
                return item
        except BaseException:
            self._slots.release()
            raise

    def _release(self, item, broken=False):
        conn = item[0]
        try:
            if broken or conn.closed:
                conn.close()
            else:
                with self._lock:
                    self._idle.append(item)
        finally:
            self._slots.release()

    @contextmanager
    def connection(self, autocommit=False):
        """A pooled connection, in a transaction committed on success; with autocommit,
        every statement is its own transaction and there is nothing left to commit.
        A connection keeps its mode between uses and is switched only when a use
        wants the other: every psycopg2 call on a connection (setting autocommit, a
        commit with nothing to commit) lets go of the GIL, and on a busy server each
        of those is a wait to get it back."""
        item = self._acquire()
        conn = item[0]
        broken = False
        try:
            if conn.autocommit != autocommit:
                conn.autocommit = autocommit
            yield conn
            if not autocommit:
                conn.commit()
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            broken = True
            raise DatabaseUnavailable(str(exc).strip().splitlines()[0] if str(exc).strip() else "database error") from None
        except BaseException:
            try:
                conn.rollback()
            except psycopg2.Error:
                broken = True
            raise
        finally:
            self._release(item, broken=broken or conn.closed != 0)

    @contextmanager
    def transaction(self):
        """A cursor returning dict rows, in a transaction committed on success."""
        with self.connection() as conn:
            with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                yield cur

    @contextmanager
    def autocommit(self):
        """A cursor returning dict rows whose every statement is its own transaction,
        committed when execute returns: no BEGIN and COMMIT round trips, for hot paths
        whose writes fit in one statement (data/check_ins.py)."""
        with self.connection(autocommit=True) as conn:
            with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                yield cur

    def warm(self, count=None):
        """Opens connections up to `count` (default: the pool's size) ahead of the
        first requests, so that none of them waits for a connect; -> how many are
        idle now. A database that cannot be reached is left for requests to report."""
        wanted = min(count or self.max_connections, self.max_connections)
        opened = []
        try:
            while len(self._idle) + len(opened) < wanted:
                opened.append(self._connect())
        except DatabaseUnavailable:
            pass
        with self._lock:
            self._idle.extend(opened)
            return len(self._idle)

    def ping(self):
        with self.transaction() as cur:
            cur.execute("SELECT 1 AS ok")
            return cur.fetchone()["ok"] == 1

    def close(self):
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()
