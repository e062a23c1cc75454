"""What /debug/status says about patch sync (the "sync" key): whether it is on,
from where, and how the last run went. Problems are reported, never fatal."""

from . import context
from .api.common import format_time
from .data import sync_runs
from .db import DatabaseUnavailable


def run_json(row):
    """A sync_runs row as the API shows it (admin sync reports, /debug/status)."""
    return {
        "id": row["id"],
        "started": format_time(row["started_at"]),
        "finished": format_time(row["finished_at"]),
        "trigger": row["trigger"],
        "result": row["result"],
        "patches-added": row["patches_added"],
        "bytes": row["bytes"],
        "error": row["error"],
    }


def sync_status():
    config = context.config()
    status = {"enabled": config.patch_sync_enabled}
    if not config.patch_sync_enabled:
        return status
    status["upstream"] = config.sync_upstream
    status["interval-seconds"] = config.sync_interval
    status["scheduled-here"] = bool(config.leader)
    if not config.sync_token:
        status["status"] = "sync token not set"
        return status
    try:
        with context.db().transaction() as cur:
            last = sync_runs.last_run(cur)
    except DatabaseUnavailable:
        status["status"] = "database unavailable"
        return status
    if last:
        status["last-run"] = run_json(last)
        status["status"] = {"success": "OK", "running": "running"}.get(last["result"], "last run failed")
    else:
        status["status"] = "no run yet"
    return status
