"""Keeps the API closed (503) while the database schema is behind the code.
The answer is cached for a few seconds so that requests do not each query it."""

import threading
import time

from . import schema


class SchemaGate:
    def __init__(self, db, ttl=5.0):
        self.db = db
        self.ttl = ttl
        self._status = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def status(self):
        with self._lock:
            if self._status is not None and time.monotonic() - self._checked < self.ttl:
                return self._status
        with self.db.transaction() as cur:
            status = schema.SchemaStatus(schema.current_version(cur), schema.required_version())
        with self._lock:
            self._status, self._checked = status, time.monotonic()
        return status

    def forget(self):
        with self._lock:
            self._status = None
