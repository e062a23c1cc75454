"""The config.* flags reactive handlers rely on (what layer:basic would set).

At the start of every hook: ``config.changed`` and ``config.changed.<opt>``
for options that differ from the previous hook's values (all of them on the
first hook), ``config.set.<opt>`` while an option is truthy and
``config.default.<opt>`` while it equals its config.yaml default. The
``config.changed*`` flags are cleared again when the hook ends.
"""

import os

import yaml
from charmhelpers.core import hookenv
from charms.reactive import clear_flag, toggle_flag


def defaults(charm_dir):
    with open(os.path.join(charm_dir, "config.yaml"), encoding="utf-8") as handle:
        options = (yaml.safe_load(handle) or {}).get("options") or {}
    return {name: spec.get("default") for name, spec in options.items()}


def flag_states(current, changed, option_defaults):
    """{flag: bool} for every config.* flag to set (True) or clear (False); pure."""
    states = {}
    for name, default in option_defaults.items():
        value = current.get(name)
        if name in changed:
            states["config.changed"] = True
            states[f"config.changed.{name}"] = True
        states[f"config.set.{name}"] = bool(value)
        states[f"config.default.{name}"] = value == default
    return states


def _at_start():
    config = hookenv.config()
    option_defaults = defaults(hookenv.charm_dir())
    changed = {name for name in option_defaults if config.changed(name)}
    for flag, value in flag_states(config, changed, option_defaults).items():
        toggle_flag(flag, value)


def _at_exit():
    clear_flag("config.changed")
    for name in defaults(hookenv.charm_dir()):
        clear_flag(f"config.changed.{name}")


def register():
    """Call before charms.reactive.main(); main runs these around the handlers."""
    hookenv.atstart(_at_start)
    hookenv.atexit(_at_exit)
