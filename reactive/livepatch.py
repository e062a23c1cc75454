"""Reactive handlers of the livepatch charm: flags in, one call into lib, flags and status out.

All logic lives in lib/charms/livepatch/. The converge handler runs in every
hook once the unit is installed: it is idempotent and restarts the service
only when what the service runs with has changed.
"""

from charms.reactive import clear_flag, endpoint_from_name, hook, set_flag, toggle_flag, when, when_not

from charms.livepatch import status, unit

INSTALLED = "livepatch.installed"
SERVING = "livepatch.serving"
REMOVED = "livepatch.removed"


@when_not(INSTALLED)
def install():
    unit.install()
    set_flag(INSTALLED)


@hook("upgrade-charm")
def upgrade_charm():
    # Reinstall: the bootstrap rebuilt the venv with the new server version.
    clear_flag(INSTALLED)


@when(INSTALLED)
@when_not(REMOVED, "upgrade.series.in-progress")
def converge():
    state, message = unit.converge(endpoint_from_name("db"), endpoint_from_name("website"))
    toggle_flag(SERVING, state == "active")
    status.set_status(state, message)


@hook("pre-series-upgrade")
def pre_series_upgrade():
    unit.pause()
    clear_flag(SERVING)
    status.set_status("blocked", "series upgrade in progress: service stopped")


@hook("stop")
def stop():
    unit.remove()
    set_flag(REMOVED)
    clear_flag(SERVING)
    status.set_status("maintenance", "removed")
