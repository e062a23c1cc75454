"""Bootstrap: the charm's virtualenv from its offline wheelhouse, then re-exec inside it.

Standard library only: this runs under the unit's system Python before
anything is installed. Units are often air-gapped (no PyPI, no compiler, no
apt for Python packages), so:

* the venv is made with ``python3 -m venv --without-pip`` (works without
  python3-venv/ensurepip) and pip is run straight from its wheel;
* everything installs with ``--no-index`` from ``wheelhouse/``, which holds
  binary wheels for every Python the charm supports;
* the server (livepatch_app) installs from the charm's own copy of its source.

The venv lives at ``$CHARM_DIR/../.venv`` and is built once (a marker file in
it records the Python it was built for); upgrade-charm and post-series-upgrade
rebuild it, as does a change of the system Python.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from . import paths

MARKER = ".livepatch-bootstrap.json"
REBUILD_HOOKS = ("upgrade-charm", "post-series-upgrade")
SOURCE_FILES = ("pyproject.toml", "setup.cfg", "setup.py", "README.md", "LICENSE")
SOURCE_PACKAGE = "livepatch_app"


class BootstrapError(RuntimeError):
    pass


def _python_tag():
    return "%d.%d" % sys.version_info[:2]


def marker(venv):
    """The marker's content, or None when the venv was never completed."""
    try:
        with open(os.path.join(venv, MARKER), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def venv_id(charm=None):
    """Identifies one build of the venv: it changes whenever the venv is rebuilt."""
    data = marker(paths.venv_dir(charm)) or {}
    return f"{data.get('python', '')}@{data.get('built', '')}"


def _inside(venv):
    return os.path.realpath(sys.prefix) == os.path.realpath(venv)


def _needs_build(venv, hook_name):
    if hook_name in REBUILD_HOOKS:
        return True
    data = marker(venv)
    return not data or data.get("python") != _python_tag() or not os.path.exists(os.path.join(venv, "bin", "python"))


def _tell(message):
    # Best effort: juju-log and status-set exist in hooks and actions.
    for argv in (["juju-log", message], ["status-set", "maintenance", message]):
        try:
            subprocess.run(argv, capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            pass


def _pip_env():
    # Only the charm's wheelhouse counts: no pip.conf, no PIP_* from the machine.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(argv, what):
    done = subprocess.run(argv, capture_output=True, text=True, env=_pip_env())
    if done.returncode != 0:
        lines = (done.stderr or done.stdout or "").strip().splitlines()
        tail = "\n".join(lines[-15:]) or "no output"
        raise BootstrapError(f"{what} failed (exit {done.returncode}):\n{tail}")


def _version_key(path):
    match = re.match(r"pip-([0-9.]+)-", os.path.basename(path))
    return tuple(int(p) for p in match.group(1).split(".") if p.isdigit()) if match else ()


def _pip_wheel(wheelhouse):
    wheels = sorted(glob.glob(os.path.join(wheelhouse, "pip-*.whl")), key=_version_key)
    if not wheels:
        raise BootstrapError(f"no pip wheel in {wheelhouse}: the charm was not built with make build")
    return wheels[-1]


def _copy_source(charm, dest):
    """A clean copy of the server's source, so building it leaves the charm dir untouched."""
    if not os.path.exists(os.path.join(charm, "pyproject.toml")):
        raise BootstrapError(f"{charm}/pyproject.toml is missing: the charm ships no server")
    for name in SOURCE_FILES:
        if os.path.exists(os.path.join(charm, name)):
            shutil.copy2(os.path.join(charm, name), dest)
    shutil.copytree(
        os.path.join(charm, SOURCE_PACKAGE),
        os.path.join(dest, SOURCE_PACKAGE),
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )


def build(charm, venv):
    """(Re)create the venv from the wheelhouse, with no network."""
    wheelhouse = os.path.join(charm, "wheelhouse")
    requirements = os.path.join(charm, "wheelhouse.txt")
    _tell("installing the charm's Python packages (offline)")
    shutil.rmtree(venv, ignore_errors=True)
    _run([sys.executable, "-m", "venv", "--without-pip", venv], "creating the virtualenv " + venv)
    python = os.path.join(venv, "bin", "python")
    offline = ["--no-index", "--find-links", wheelhouse, "--no-cache-dir", "--quiet"]
    _run([python, os.path.join(_pip_wheel(wheelhouse), "pip"), "install", *offline, "pip"], "installing pip")
    _run([python, "-m", "pip", "install", *offline, "-r", requirements], "installing " + requirements)
    with tempfile.TemporaryDirectory(prefix="livepatch-src-") as source:
        _copy_source(charm, source)
        # setuptools comes from wheelhouse.txt; no build isolation means no index needed.
        _run(
            [python, "-m", "pip", "install", *offline, "--no-build-isolation", source],
            "installing the livepatch server from the charm",
        )
    with open(os.path.join(venv, MARKER), "w", encoding="utf-8") as handle:
        json.dump({"python": _python_tag(), "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, handle)


def _reexec(venv):
    python = os.path.join(venv, "bin", "python")
    env = dict(os.environ)
    env["PATH"] = os.path.join(venv, "bin") + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = venv
    os.execve(python, [python] + sys.argv, env)


def enter_venv(hook_name, charm=None):
    """Make sure the venv is ready, then continue this process inside it.

    Returns only when already running in the venv; otherwise builds it if
    needed and replaces this process with the venv's Python running the same
    script with the same arguments.
    """
    charm = os.path.abspath(charm or paths.charm_dir())
    venv = paths.venv_dir(charm)
    if _inside(venv):
        return
    if _needs_build(venv, hook_name):
        try:
            build(charm, venv)
        except BootstrapError as exc:
            _tell("installing Python packages failed: see juju debug-log")
            sys.stderr.write(f"livepatch bootstrap: {exc}\n")
            raise SystemExit(1) from None
    _reexec(venv)
