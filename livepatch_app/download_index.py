"""A per-process cache of download lookups (patches.find_for_download rows), kept
exact with PostgreSQL's LISTEN/NOTIFY.

Triggers on patches and blocklist (migration 0003) notify `livepatch_catalogue` at
every commit that changes them, on any unit. A listener thread, on a connection of its
own, empties the cache on each notification; a process also empties it itself after
its own changes (forget()), so its next download sees them at once. While the listener
is not connected the cache is not used at all: a lookup then reads the database, as
every download did before. A lookup that raced with a change is not cached (the
generation counter), so the cache never keeps a row older than the last notification.
Only rows that exist are kept (at most MAX_ENTRIES): unknown names always read.
"""

import logging
import select
import threading

import psycopg2

log = logging.getLogger("livepatch.downloads")
CHANNEL = "livepatch_catalogue"
MAX_ENTRIES = 10_000
RECONNECT_SECONDS = 1.0


class DownloadIndex:
    def __init__(self, dsn):
        self.dsn = dsn
        self._rows = {}
        self._lock = threading.Lock()
        self._generation = 0
        self._listening = False
        self._thread = None
        self._stop = threading.Event()

    def lookup(self, filename, read):
        """The cached row for filename, or read() (a database read) cached when it is safe."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._listen, name="download-index", daemon=True)
                self._thread.start()
            row = self._rows.get(filename) if self._listening else None
            generation, listening = self._generation, self._listening
        if row is not None:
            return row
        row = read()
        if row is not None and listening:
            with self._lock:
                if self._listening and self._generation == generation and len(self._rows) < MAX_ENTRIES:
                    self._rows[filename] = row
        return row

    def forget(self):
        """Empties the cache: after this process changed patches or the blocklist."""
        with self._lock:
            self._rows.clear()
            self._generation += 1

    def stop(self):
        self._stop.set()

    def _set_listening(self, listening):
        with self._lock:
            self._listening = listening
            self._rows.clear()
            self._generation += 1

    def _listen(self):
        while not self._stop.is_set():
            conn = None
            try:
                conn = psycopg2.connect(self.dsn, connect_timeout=5, application_name="livepatch-listen",
                                        keepalives=1, keepalives_idle=30, keepalives_interval=10,
                                        keepalives_count=3)
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute(f"LISTEN {CHANNEL}")
                self._set_listening(True)  # what changed before LISTEN is not in the cache
                while not self._stop.is_set():
                    if select.select([conn], [], [], 1.0)[0]:
                        conn.poll()
                        if conn.notifies:
                            conn.notifies.clear()
                            self.forget()
            except (psycopg2.Error, OSError) as exc:
                log.debug("download index listener: %s", type(exc).__name__)
            finally:
                self._set_listening(False)
                if conn is not None:
                    conn.close()
            self._stop.wait(RECONNECT_SECONDS)
