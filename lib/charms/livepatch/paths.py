"""Where the charm puts things on a unit (stdlib only: bootstrap.py uses it)."""

import os

SERVICE = "livepatch"
ADMIN = "root"  # owns the config and unit files
ADMIN_GROUP = "root"
USER = "livepatch"
GROUP = "livepatch"
CONFIG_DIR = "/etc/livepatch"
CONFIG_FILE = "/etc/livepatch/livepatch.yaml"
UNIT_FILE = "/etc/systemd/system/livepatch.service"
STATE_DIR = "/var/lib/livepatch"  # the service user's home; holds the default filesystem store
CACHE_DIR = "/var/cache/livepatch"  # local patch cache (patch_cache_on)


def charm_dir():
    # Juju sets both; CHARM_DIR is what charmhelpers' unitdata reads too.
    return os.environ.get("JUJU_CHARM_DIR") or os.environ.get("CHARM_DIR") or os.getcwd()


def venv_dir(charm=None):
    """The charm's virtualenv: beside the charm directory, so upgrade-charm keeps it."""
    return os.path.join(os.path.dirname(os.path.abspath(charm or charm_dir())), ".venv")


def venv_python(charm=None):
    return os.path.join(venv_dir(charm), "bin", "python")


def templates_dir(charm=None):
    return os.path.join(charm or charm_dir(), "templates")
