"""Fetching the patch files a sync run lacks. FETCH_THREADS threads download at
once, each with its own UpstreamClient (and so its own connection to the upstream),
streaming every file through ingest.stage into the store, where it is checked
against the snapshot's sha256 and size while still invisible. The run's thread
makes the verified files visible in batches, one transaction each (ingest.commit):
BATCH_FILES files, or whatever has arrived BATCH_SECONDS after the batch's first
file, so that over a slow link each file still shows soon. Memory stays bounded:
a download holds a store chunk at a time, whatever the file's size."""

import http.client
import queue
import threading
import time

import urllib3

from .. import ingest
from ..errors import APIError
from .client import UpstreamError

FETCH_THREADS = 4
BATCH_FILES = 64
BATCH_SECONDS = 1.0


def fetch_all(svc, make_client, patches, outcome):
    """Fetches `patches` (snapshot entries) with clients from `make_client()`. A file's
    failure is an outcome problem; a fatal UpstreamError stops the fetching, the files
    verified by then still become visible, and it is raised."""
    if not patches:
        return
    todo, results, stop = queue.Queue(), queue.Queue(), threading.Event()
    for patch in patches:
        todo.put(patch)
    clients = [make_client() for _ in range(min(FETCH_THREADS, len(patches)))]
    threads = [threading.Thread(target=_worker, args=(svc.store, client, todo, results, stop, outcome),
                                name=f"sync-fetch-{n}", daemon=True)
               for n, client in enumerate(clients)]
    batch = _Batch(svc, outcome)
    try:
        for thread in threads:
            thread.start()
        for _ in patches:
            while True:
                try:
                    patch, staged, error = results.get(timeout=batch.time_left())
                    break
                except queue.Empty:
                    batch.commit()
            _settle(batch, outcome, patch, staged, error)
            if batch.full():
                batch.commit()
    finally:
        stop.set()
        for thread in threads:
            if thread.ident is not None:
                thread.join()
        for client in clients:
            client.close()
        while not results.empty():  # files in flight when a fatal error stopped the run
            _settle(batch, outcome, *results.get_nowait(), quiet=True)
        batch.commit()


def _worker(store, client, todo, results, stop, outcome):
    while not stop.is_set():
        try:
            patch = todo.get_nowait()
        except queue.Empty:
            return
        try:
            results.put((patch, _stage(store, client, patch, outcome), None))
        except Exception as exc:  # the run's thread decides what it means
            results.put((patch, None, exc))


def _stage(store, client, patch, outcome):
    response = client.download(patch["filename"])
    try:
        stream = _Download(response, patch["filename"], patch["size"], outcome)
        return ingest.stage(store, patch["filename"], stream, max_bytes=patch["size"],
                            expected_sha256=patch["sha256"])
    finally:
        client.release(response)


def _settle(batch, outcome, patch, staged, error, quiet=False):
    """One worker's result: into the batch, or a problem; a fatal error is raised (or,
    `quiet`, once the run is stopping anyway, dropped: it was reported already)."""
    if error is None:
        batch.add(staged)
    elif isinstance(error, UpstreamError):
        if error.fatal:
            if not quiet:
                raise error
        else:
            outcome.problem(error.message)
    elif isinstance(error, APIError):  # from ingest: checksum-mismatch, too large
        outcome.problem(f"{patch['filename']}: rejected: {error.message} ({error.code})")
    elif not quiet:
        raise error


class _Batch:
    """Verified files waiting to become visible together."""

    def __init__(self, svc, outcome):
        self.svc, self.outcome = svc, outcome
        self.staged, self.since = [], 0.0

    def add(self, staged):
        if not self.staged:
            self.since = time.monotonic()
        self.staged.append(staged)

    def full(self):
        return len(self.staged) >= BATCH_FILES

    def time_left(self):
        """Seconds until the batch is due; None (no limit) while it is empty."""
        return None if not self.staged else max(0.0, self.since + BATCH_SECONDS - time.monotonic())

    def commit(self):
        staged, self.staged = self.staged, []
        if not staged:
            return
        try:
            results = ingest.commit(self.svc.db, self.svc.store, staged, "sync")
        except APIError as exc:  # no-tiers: nothing of the batch committed
            for item in staged:
                self.outcome.problem(f"{item.name.filename}: rejected: {exc.message} ({exc.code})")
            return
        for result in results:
            if result.error is not None:  # patch-exists: the name arrived meanwhile with other bytes
                self.outcome.problem(f"{result.filename}: rejected: {result.error.message} ({result.error.code})")
            elif result.created:  # not created: the same bytes arrived meanwhile by another way
                self.outcome.added += 1


class _Download:
    """A streamed patch file as ingest reads it: counts bytes, and turns a
    transfer cut short (or running long) into a clear, per-file UpstreamError."""

    _CUT = (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)

    def __init__(self, response, filename, expected_size, outcome):
        self.raw = response
        self.filename = filename
        self.expected = expected_size
        self.outcome = outcome
        self.received = 0

    def _cut(self):
        return UpstreamError(f"downloading {self.filename}: the transfer was cut after {self.received} of "
                             f"{self.expected} bytes; nothing was kept, the next run retries", fatal=False)

    def read(self, size=-1):
        try:
            data = self.raw.read(None if size is None or size < 0 else size)
        except self._CUT:
            raise self._cut() from None
        self.received += len(data)
        self.outcome.count_bytes(len(data))
        if not data and self.received < self.expected:
            raise self._cut()
        if self.received > self.expected:
            raise UpstreamError(f"downloading {self.filename}: the upstream sent more than the {self.expected} "
                                f"bytes its snapshot announced; nothing was kept", fatal=False)
        return data
