"""What /debug/status says about patch sync. The sync area owns the details."""

from . import context
from .data import sync_runs
from .db import DatabaseUnavailable


def sync_status():
    config = context.config()
    status = {"enabled": config.patch_sync_enabled}
    if not config.patch_sync_enabled:
        return status
    status["upstream"] = config.sync_upstream
    if not config.sync_token:
        status["status"] = "sync token not set"
        return status
    try:
        with context.db().transaction() as cur:
            last = sync_runs.last_run(cur)
    except DatabaseUnavailable:
        last = None
    if last:
        status["last-run"] = {
            "started": last["started_at"].isoformat(),
            "finished": last["finished_at"].isoformat() if last["finished_at"] else None,
            "result": last["result"],
            "patches-added": last["patches_added"],
            "bytes": last["bytes"],
            "error": last["error"],
        }
        status["status"] = "OK" if last["result"] in ("success", "running") else "last run failed"
    else:
        status["status"] = "no run yet"
    return status
