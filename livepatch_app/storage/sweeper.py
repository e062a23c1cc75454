"""Background clean-up of patch storage, on every unit: stored bytes that no
patch row points at (an upload that died between storing and committing), and
expired patch-cache entries. Safe on several units at once: each delete only
removes what nothing references."""

import logging

from ..context import services
from ..jobs import Periodic
from ..patch_cache import for_app

log = logging.getLogger("livepatch.storage")
INTERVAL = 3600
MARGIN_MINUTES = 60  # an upload younger than this may still be about to commit


def sweep_once(app):
    db, store = services(app).db, services(app).store
    with db.transaction() as cur:
        removed = store.sweep(cur, MARGIN_MINUTES)
    if removed:
        log.info("removed %d unreferenced stored patch blobs", removed)
    cache = for_app(app)
    if cache is not None:
        cache.expire()
    return removed


def make_job(app):
    return Periodic("storage-sweep", INTERVAL, lambda: sweep_once(app), first_delay=60.0)
