"""Reactive handlers of the livepatch charm: flags in, one call into lib, flags and status out.

All logic lives in lib/charms/livepatch/. The converge handler runs in every
hook once the unit is installed: it is idempotent and restarts the service
only when what the service runs with has changed. Between pre- and
post-series-upgrade the unit is paused (PAUSED): converge then only reports
that, so no hook starts the service while the machine's OS is upgraded.
"""

from charms.reactive import clear_flag, endpoint_from_name, hook, is_flag_set, set_flag, toggle_flag, when, when_not

from charms.livepatch import status, unit

INSTALLED = "livepatch.installed"
SERVING = "livepatch.serving"
REMOVED = "livepatch.removed"
PAUSED = unit.PAUSED_FLAG


@when_not(INSTALLED)
def install():
    unit.install()
    set_flag(INSTALLED)


@hook("upgrade-charm")
def upgrade_charm():
    # Reinstall: the bootstrap rebuilt the venv with the new server version.
    clear_flag(INSTALLED)


@when(INSTALLED)
@when_not(REMOVED)
def converge():
    state, message = unit.converge(
        endpoint_from_name("db"),
        endpoint_from_name("database"),
        endpoint_from_name("website"),
        paused=is_flag_set(PAUSED),
    )
    toggle_flag(SERVING, state == "active")
    status.set_status(state, message)


@hook("pre-series-upgrade")
def pre_series_upgrade():
    state, message = unit.pause()
    set_flag(PAUSED)
    clear_flag(SERVING)
    status.set_status(state, message)


@hook("post-series-upgrade")
def post_series_upgrade():
    # The bootstrap rebuilt the venv for the new Python before this hook ran.
    unit.resume()
    clear_flag(PAUSED)  # converge runs next and brings the status back


@hook("stop")
def stop():
    unit.remove()
    set_flag(REMOVED)
    clear_flag(SERVING)
    status.set_status("maintenance", "removed")
