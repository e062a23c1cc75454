"""One sync run: take the lock, fetch the upstream's snapshot, mirror its
blocklist, fetch the patches we lack (each verified against its sha256 by
ingest before it becomes visible in our first tier), report our machine count
if asked, and record the run. Per-file failures do not stop the run; a run with
any failure is recorded as failed, and the next run retries what is missing."""

import http.client
import logging
import threading

import requests
import urllib3

from ..data import deployments, sync_catalog, sync_runs
from ..db import DatabaseUnavailable
from ..errors import APIError
from ..logs import log_fields
from ..patchname import InvalidName, parse_patch_name, version_key
from .client import UpstreamClient, UpstreamError
from .lock import RunLock, SyncBusy  # noqa: F401  (SyncBusy is part of this module's interface)
from .machine_count import bucket

log = logging.getLogger("livepatch.sync")

MAX_ERROR_LINES = 10
MAX_ERROR_CHARS = 4000


class SyncDisabled(Exception):
    """Sync is off, or has no token to present."""


def check_enabled(config):
    if not config.patch_sync_enabled:
        raise SyncDisabled("patch sync is disabled (patch_sync_enabled is false)")
    if not config.sync_token:
        raise SyncDisabled("patch sync has no token: set sync_token")
    if not config.sync_upstream:
        raise SyncDisabled("patch sync has no upstream: set sync_upstream")


def begin(svc, trigger, wait_seconds=0.0):
    """Lock and record a new run -> (lock, run row). SyncBusy when one is running."""
    check_enabled(svc.config)
    lock = RunLock(svc.db.dsn)
    lock.acquire(wait_seconds)
    try:
        with svc.db.transaction() as cur:
            sync_runs.abandon_running(cur)  # we hold the lock: nothing else is running
            run = sync_runs.start(cur, trigger)
    except BaseException:
        lock.close()
        raise
    return lock, run


def execute(svc, lock, run):
    """Do the run begun by `begin`, record its outcome, release the lock -> the run row."""
    outcome = _Outcome()
    client = UpstreamClient(svc.config.sync_upstream, svc.config.sync_token, svc.config.http_proxy,
                            svc.config.https_proxy, svc.config.no_proxy)
    try:
        _sync(svc, client, outcome)
    except UpstreamError as exc:
        outcome.problem(exc.message)
    except DatabaseUnavailable as exc:
        outcome.problem(f"the database became unavailable: {exc}")
    except Exception:  # recorded, never left 'running'
        log.exception("sync run %s failed unexpectedly", run["id"])
        outcome.problem("internal error during the sync run (see the server log)")
    finally:
        client.close()
    try:
        return _finish(svc, run, outcome, svc.config.sync_token)
    finally:
        lock.close()


def run_now(svc, trigger, wait_seconds=0.0):
    lock, run = begin(svc, trigger, wait_seconds)
    return execute(svc, lock, run)


def run_in_background(svc, trigger):
    """Begin a run here (so SyncBusy is immediate) and do it on a thread -> run row."""
    lock, run = begin(svc, trigger)
    try:
        threading.Thread(target=execute, args=(svc, lock, run), name=f"sync-run-{run['id']}", daemon=True).start()
    except BaseException:
        lock.close()
        raise
    return run


class _Outcome:
    def __init__(self):
        self.added = 0
        self.bytes = 0
        self.problems = []

    def problem(self, text):
        self.problems.append(text)

    def error_text(self, secret):
        if not self.problems:
            return None
        lines = self.problems[:MAX_ERROR_LINES]
        if len(self.problems) > MAX_ERROR_LINES:
            lines.append(f"... and {len(self.problems) - MAX_ERROR_LINES} more problems")
        text = "; ".join(lines)[:MAX_ERROR_CHARS]
        # Last guard: whatever an upstream sent back, our token is never recorded.
        return text.replace(secret, "***") if secret else text


def _finish(svc, run, outcome, secret):
    result = "failed" if outcome.problems else "success"
    with svc.db.transaction() as cur:
        row = sync_runs.finish(cur, run["id"], result, outcome.added, outcome.bytes, outcome.error_text(secret))
    svc.metrics.sync_runs.inc(result=result)
    svc.metrics.sync_bytes.inc(outcome.bytes)
    svc.metrics.sync_patches.inc(outcome.added)
    log_fields(log, logging.INFO if result == "success" else logging.WARNING, "sync run finished",
               run_id=run["id"], trigger=run["trigger"], result=result, patches_added=outcome.added,
               bytes=outcome.bytes, error=row["error"])
    return row


def _wanted(config, name):
    """Whether a parsed patch name passes our own filters (the upstream may ignore them)."""
    if config.sync_flavors and name.flavour not in config.sync_flavors:
        return False
    if config.sync_architectures and name.architecture not in config.sync_architectures:
        return False
    if config.sync_minimum_kernel_version:
        minimum = version_key(config.sync_minimum_kernel_version)
        minimum += (0,) * (3 - len(minimum))
        if version_key(name.kernel_base) < minimum:
            return False
    return True


def _sync(svc, client, outcome):
    config = svc.config
    snapshot = client.snapshot(config.sync_flavors, config.sync_architectures, config.sync_minimum_kernel_version)
    with svc.db.transaction() as cur:
        sync_catalog.mirror_upstream_blocklist(cur, snapshot["blocklist"])
        blocked = {row["filename"] for row in sync_catalog.blocklist(cur)}
        held = sync_catalog.held_patches(cur, [p["filename"] for p in snapshot["patches"]])
    for patch in snapshot["patches"]:
        filename = patch["filename"]
        try:
            name = parse_patch_name(filename)
        except InvalidName as exc:
            outcome.problem(f"upstream offered {filename[:255]!r}, which is not a patch file name: {exc}")
            continue
        if not _wanted(config, name) or filename in blocked:
            continue
        if filename in held:
            if held[filename] != patch["sha256"]:
                outcome.problem(f"{filename}: ours differs from the upstream's (sha256 {held[filename]} here, "
                                f"{patch['sha256']} upstream): kept ours")
            continue
        try:
            _fetch(svc, client, patch, outcome)
        except UpstreamError as exc:
            if exc.fatal:
                raise
            outcome.problem(exc.message)
        except APIError as exc:  # from ingest: checksum-mismatch, too large, name taken meanwhile
            outcome.problem(f"{filename}: rejected: {exc.message} ({exc.code})")
    if config.sync_send_machine_reports:
        _report(svc, client, outcome)


def _fetch(svc, client, patch, outcome):
    from ..ingest import ingest_patch  # the patches area's single way in

    response = client.download(patch["filename"])
    try:
        stream = _Download(response, patch["filename"], patch["size"], outcome)
        _, created = ingest_patch(svc.db, svc.store, patch["filename"], stream, source="sync",
                                  max_bytes=patch["size"], expected_sha256=patch["sha256"])
    finally:
        response.close()
    if created:  # not created: the same bytes arrived meanwhile by another way
        outcome.added += 1


def _report(svc, client, outcome):
    with svc.db.transaction() as cur:
        count = deployments.local_machine_count(cur)
        deployment_id = svc.config.deployment_id or deployments.local_deployment_id(cur)
    exact = svc.config.sync_machine_count == "exact"
    try:
        client.report(deployment_id, count if exact else bucket(count), exact)
    except UpstreamError as exc:
        outcome.problem(exc.message)


class _Download:
    """A streamed patch file as ingest reads it: counts bytes, and turns a
    transfer cut short (or running long) into a clear, per-file UpstreamError."""

    _CUT = (urllib3.exceptions.HTTPError, requests.exceptions.RequestException, http.client.HTTPException, OSError)

    def __init__(self, response, filename, expected_size, outcome):
        self.raw = response.raw
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
        self.outcome.bytes += len(data)
        if not data and self.received < self.expected:
            raise self._cut()
        if self.received > self.expected:
            raise UpstreamError(f"downloading {self.filename}: the upstream sent more than the {self.expected} "
                                f"bytes its snapshot announced; nothing was kept", fatal=False)
        return data
