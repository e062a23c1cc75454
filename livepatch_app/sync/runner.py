"""One sync run: take the lock, fetch the upstream's snapshot, mirror its
blocklist, fetch the patches we lack (several at once, each verified against its
sha256 by ingest before it becomes visible in our first tier, in batches: see
fetch.py), report our machine count if asked, and record the run. Per-file
failures do not stop the run; a run with any failure is recorded as failed, and
the next run retries what is missing."""

import logging
import threading
from functools import partial

from ..data import deployments, sync_catalog, sync_runs
from ..db import DatabaseUnavailable
from ..logs import log_fields
from ..patchname import InvalidName, parse_patch_name, version_key
from .client import UpstreamClient, UpstreamError
from .fetch import fetch_all
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
    config = svc.config
    make_client = partial(UpstreamClient, config.sync_upstream, config.sync_token, config.http_proxy,
                          config.https_proxy, config.no_proxy)
    client = make_client()
    try:
        _sync(svc, client, make_client, outcome)
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
        self._lock = threading.Lock()

    def count_bytes(self, n):
        with self._lock:  # from every fetching thread
            self.bytes += n

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


def _sync(svc, client, make_client, outcome):
    config = svc.config
    snapshot = client.snapshot(config.sync_flavors, config.sync_architectures, config.sync_minimum_kernel_version)
    with svc.db.transaction() as cur:
        sync_catalog.mirror_upstream_blocklist(cur, snapshot["blocklist"])
        blocked = {row["filename"] for row in sync_catalog.blocklist(cur)}
        lacking = sync_catalog.not_held(cur, snapshot["patches"])  # {filename: our other sha256 or None}
    missing, seen = [], set()
    for patch in snapshot["patches"]:
        filename = patch["filename"]
        if filename not in lacking or filename in seen:  # held with the same bytes, or a repeat
            continue
        seen.add(filename)
        try:
            name = parse_patch_name(filename)
        except InvalidName as exc:
            outcome.problem(f"upstream offered {filename[:255]!r}, which is not a patch file name: {exc}")
            continue
        if not _wanted(config, name) or filename in blocked:
            continue
        if lacking[filename] is not None:
            outcome.problem(f"{filename}: ours differs from the upstream's (sha256 {lacking[filename]} here, "
                            f"{patch['sha256']} upstream): kept ours")
            continue
        missing.append(patch)
    fetch_all(svc, make_client, missing, outcome)
    if config.sync_send_machine_reports:
        _report(svc, client, outcome)


def _report(svc, client, outcome):
    with svc.db.transaction() as cur:
        count = deployments.local_machine_count(cur)
        deployment_id = svc.config.deployment_id or deployments.local_deployment_id(cur)
    exact = svc.config.sync_machine_count == "exact"
    try:
        client.report(deployment_id, count if exact else bucket(count), exact)
    except UpstreamError as exc:
        outcome.problem(exc.message)
