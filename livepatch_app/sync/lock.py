"""The one-sync-at-a-time lock: a PostgreSQL session advisory lock held on a
dedicated connection (never a pooled one) for the whole run. If the process
dies, PostgreSQL drops the connection and the lock with it."""

import time

import psycopg2
import psycopg2.extras

from ..data import sync_runs
from ..db import DatabaseUnavailable, redact_dsn


class SyncBusy(Exception):
    """Another run holds the lock (on this unit or another)."""


class RunLock:
    def __init__(self, dsn, lock_id=sync_runs.SYNC_LOCK_ID, busy_message="a sync run is already in progress"):
        self.lock_id = lock_id
        self.busy_message = busy_message
        try:
            self.conn = psycopg2.connect(dsn, connect_timeout=5, application_name="livepatch-sync")
        except psycopg2.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection failed"
            raise DatabaseUnavailable(redact_dsn(first)) from None
        self.conn.autocommit = True
        self.held = False

    def _cursor(self):
        return self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor)

    def acquire(self, wait_seconds=0.0, poll=0.5):
        """Take the lock, waiting up to `wait_seconds`; SyncBusy when it stays taken."""
        deadline = time.monotonic() + wait_seconds
        try:
            while True:
                with self._cursor() as cur:
                    if sync_runs.try_lock(cur, self.lock_id):
                        self.held = True
                        return
                if time.monotonic() >= deadline:
                    raise SyncBusy(self.busy_message)
                time.sleep(poll)
        except psycopg2.Error as exc:
            self.close()
            raise DatabaseUnavailable(f"taking the run lock failed: {exc.__class__.__name__}") from None
        except BaseException:
            self.close()
            raise

    def close(self):
        """Release (if held) and drop the dedicated connection."""
        try:
            if self.held and not self.conn.closed:
                with self._cursor() as cur:
                    sync_runs.unlock(cur, self.lock_id)
        except psycopg2.Error:
            pass  # closing the connection releases it anyway
        finally:
            self.held = False
            self.conn.close()
