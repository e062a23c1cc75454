"""Leader duty: delete machine reports older than `report_retention` days, at
most `report_cleanup_row_limit` rows per run (so one run never holds locks for
long), every `report_cleanup_interval`; and purge expired admin sessions.

Runs under an advisory lock, so two units that both believe they lead never
clean at once: the second simply skips its run.
"""

import logging

from .context import services
from .data import reports, sessions
from .jobs import Periodic
from .logs import log_fields

log = logging.getLogger("livepatch.reports")


def cleanup_reports(db, retention_days, row_limit):
    """One clean-up run -> report rows deleted (0 when another runner holds the lock)."""
    with db.transaction() as cur:
        if not reports.try_cleanup_lock(cur):
            log_fields(log, logging.INFO, "report clean-up skipped: another unit is running it")
            return 0
        deleted = reports.delete_older_than(cur, retention_days, row_limit)
        sessions_purged = sessions.purge_expired(cur)
        reports.mark_cleanup_run(cur, deleted)
    log_fields(log, logging.INFO, "report clean-up done", reports_deleted=deleted,
               sessions_purged=sessions_purged)
    return deleted


def job(app):
    """The periodic clean-up for this unit, or None when it is not the leader."""
    config = services(app).config
    if not config.leader:
        return None
    db = services(app).db
    return Periodic("reports-cleanup", config.report_cleanup_interval,
                    lambda: cleanup_reports(db, config.report_retention, config.report_cleanup_row_limit))
