"""The scheduled sync: on the leader unit only, every sync_interval. The run
lock (sync/lock.py) still guards it, so a leadership change can never start
two runs at once."""

import logging

from ..context import services
from ..db import DatabaseUnavailable
from ..jobs import Periodic
from . import runner

log = logging.getLogger("livepatch.sync")


def job(app):
    config = services(app).config
    if not config.patch_sync_enabled or not config.leader:
        return None
    svc = services(app)

    def scheduled_run():
        try:
            runner.run_now(svc, "schedule")
        except runner.SyncDisabled as exc:
            log.warning("scheduled sync skipped: %s", exc)
        except runner.SyncBusy:
            log.info("scheduled sync skipped: another run is in progress")
        except DatabaseUnavailable as exc:
            log.warning("scheduled sync skipped: the database is unavailable (%s)", exc)

    return Periodic("sync", config.sync_interval, scheduled_run)
