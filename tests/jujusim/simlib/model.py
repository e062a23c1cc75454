"""On-disk model state.

Everything the simulator knows lives in one JSON document, ``<model>/model.json``.
Hook tools, the controller and the command line are separate processes, so every
read-modify-write happens under an exclusive ``flock`` on ``<model>/model.lock``;
the file is replaced atomically (write to a temporary file, then rename).

Layout of a model directory (all 0755 so that a service's system user can read
what it needs, e.g. the charm's virtualenv):

  model.json, model.lock        the state
  controller.pid, controller.lock, logs/controller.log
  logs/unit-<app>-<n>.log       hook runs: stdout/stderr, juju-log lines
  sys/                          files bind-mounted into every unit (os-release...)
  units/<app>-<n>/              one "machine" per unit:
     root/<path>                backing folders of the unit's private paths,
                                e.g. root/var/lib/juju, root/etc/livepatch, root/run
     sbin/                      systemctl / service shims
     systemd/                   service state files of the fake systemd
     journal/<service>.log      a service's stdout/stderr
     mounts.json                what nsexec mounts for this unit
  actions/<id>.out|.err         action output
"""

import contextlib
import fcntl
import json
import os
import time

SIM_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIMLIB_DIR = os.path.join(SIM_DIR, "simlib")
STANDIN_DIR = os.path.join(SIM_DIR, "charms")

JUJU_VERSION = "2.9.49"
SERIES = "jammy"
# series a machine can run (upgrade-series); the base names are Juju 3's spelling
SERIES_VERSIONS = {"focal": "20.04", "jammy": "22.04", "noble": "24.04"}

# Paths that are private to each unit (bind mounts of per-unit folders inside the
# unit's mount namespace). /run is private too, so /run/systemd/system exists for
# the charm (charmhelpers' init_is_systemd) without touching the host's /run.
DEFAULT_PRIVATE_PATHS = [
    "/var/lib/juju",
    "/etc/livepatch",
    "/etc/systemd/system",
    "/var/lib/livepatch",
    "/var/cache/livepatch",
    "/var/log/livepatch",
    "/etc/haproxy",
    "/var/lib/postgresql",
    # the Ubuntu Pro client's state is the machine's (real-charms-facts.md section 3)
    "/var/lib/ubuntu-advantage",
    "/etc/ubuntu-advantage",
    # NRPE's (the nrpe stand-in and charmhelpers.contrib.charmsupport.nrpe write there;
    # /etc/nagios is in the machine's /etc)
    "/var/lib/nagios",
    "/var/log/nagios",
    "/usr/local/lib/nagios",
    "/run",
]

STANDARD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin"


class SimError(Exception):
    """An error reported to the user as ``ERROR <message>`` (exit code 1)."""


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def unit_tag(unit):
    """'livepatch/0' -> 'livepatch-0' (the folder name under units/)."""
    return unit.replace("/", "-")


def agent_tag(unit):
    """'livepatch/0' -> 'unit-livepatch-0' (Juju's tag)."""
    return "unit-" + unit_tag(unit)


def unit_app(unit):
    return unit.split("/")[0]


def unit_number(unit):
    return int(unit.split("/")[1])


def juju_major(st):
    """2 or 3: the model's Juju version decides which hook tools exist (secrets: 3)."""
    return int(str(st.get("juju_version", JUJU_VERSION)).split(".")[0])


def charm_dir_in_unit(unit):
    return "/var/lib/juju/agents/%s/charm" % agent_tag(unit)


SKIP_DIRS = (".git", "__pycache__", ".tox", ".pytest_cache")


def charm_files(src):
    """Relative paths of the files of a charm dir, symlinks resolved (dangling ones skipped)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(src, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for fn in sorted(filenames):
            full = os.path.join(dirpath, fn)
            if os.path.exists(full) and not fn.endswith(".pyc"):
                out.append(os.path.relpath(full, src))
    return out


def copy_charm(src, dst):
    """Copies a charm dir with symlinks resolved (shutil.copytree mistakes relative
    symlinks for dangling ones)."""
    import shutil
    files = charm_files(src)
    for rel in files:
        target = os.path.join(dst, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.lexists(target) and not os.path.isfile(target):
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target)
            else:
                os.unlink(target)
        shutil.copy2(os.path.join(src, rel), target)
    os.makedirs(dst, exist_ok=True)
    os.chmod(dst, 0o755)
    return files


def write_json_atomic(path, data, mode=0o644):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    os.chmod(tmp, mode)
    os.replace(tmp, path)


class Model:
    """Paths of one model directory and locked access to its state."""

    def __init__(self, path):
        self.path = os.path.abspath(path)

    # --- paths -------------------------------------------------------------
    @property
    def state_file(self):
        return os.path.join(self.path, "model.json")

    @property
    def lock_file(self):
        return os.path.join(self.path, "model.lock")

    @property
    def logs_dir(self):
        return os.path.join(self.path, "logs")

    def unit_dir(self, unit):
        return os.path.join(self.path, "units", unit_tag(unit))

    def unit_root(self, unit, path="/"):
        """Backing folder on the host of a private path of the unit."""
        return os.path.join(self.unit_dir(unit), "root", path.lstrip("/"))

    def unit_log(self, unit):
        return os.path.join(self.logs_dir, agent_tag(unit) + ".log")

    def host_charm_dir(self, unit):
        return self.unit_root(unit, charm_dir_in_unit(unit))

    def exists(self):
        return os.path.exists(self.state_file)

    # --- state -------------------------------------------------------------
    @contextlib.contextmanager
    def _flock(self, kind):
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, kind)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _load(self):
        try:
            with open(self.state_file) as f:
                return json.load(f)
        except FileNotFoundError:
            raise SimError("no model at %s (deploy something first)" % self.path)

    def read(self):
        """A snapshot of the state (shared lock)."""
        with self._flock(fcntl.LOCK_SH):
            return self._load()

    @contextlib.contextmanager
    def locked(self):
        """Exclusive access: yields the state; writes it back if it changed."""
        with self._flock(fcntl.LOCK_EX):
            raw = open(self.state_file).read() if self.exists() else None
            if raw is None:
                raise SimError("no model at %s (deploy something first)" % self.path)
            state = json.loads(raw)
            before = json.dumps(state, sort_keys=True)
            yield state
            if json.dumps(state, sort_keys=True) != before:
                write_json_atomic(self.state_file, state)

    def create(self, state):
        os.makedirs(self.path, exist_ok=True)
        os.chmod(self.path, 0o755)
        with self._flock(fcntl.LOCK_EX):
            if self.exists():
                raise SimError("model %s already exists" % self.path)
            write_json_atomic(self.state_file, state)

    # --- logs --------------------------------------------------------------
    def log(self, unit, line):
        os.makedirs(self.logs_dir, exist_ok=True)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(self.unit_log(unit), "a") as f:
            f.write("%s %s %s\n" % (stamp, agent_tag(unit), line))
