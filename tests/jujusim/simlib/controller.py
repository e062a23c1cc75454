"""The per-model agent: runs what the unit queues hold, like Juju's unit agents.

One controller process per model (started on demand by the command line, stopped
by `destroy`). It picks the oldest runnable event of the model, runs it and records
the outcome; by default one event at a time in the whole model (a model option,
`parallel`, allows more; a unit never runs two at once).

A hook, action or `exec` runs as

    unshare --mount --propagation private -- python -I nsexec.py <mounts> <charm dir> -- <program>

with the environment Juju gives hooks, as root, cwd = the charm dir at its real
path /var/lib/juju/agents/unit-<app>-<n>/charm. Its stdout/stderr go to the unit's
log (logs/unit-<app>-<n>.log), for actions also to actions/<id>.out|.err.

Every process of a unit (hooks, services, strays) is put in a cgroup of its own,
<cgroup root>/jujusim-<model uuid>/<app>-<n>, so remove-unit and destroy find them
all. (Without a writable cgroup hierarchy it falls back to remembering the mount
namespaces of the unit's hooks and scanning /proc.)

The controller is a child subreaper and reaps orphans: on this kind of machine
PID 1 does not reap, so services started by hooks would otherwise stay zombies.
"""

import ctypes
import json
import os
import shlex
import shutil
import signal
import socketserver
import subprocess
import sys
import threading
import time
import uuid

from . import hooktools, ingress, ops
from .model import (SIMLIB_DIR, SIM_DIR, STANDARD_PATH, SimError, agent_tag, charm_dir_in_unit,
                    charm_files, copy_charm, now, unit_app, unit_tag, write_json_atomic)
from .systemd import pid_alive

PY = sys.executable
NSEXEC = os.path.join(SIMLIB_DIR, "nsexec.py")
JUJUSIM = os.path.join(SIM_DIR, "jujusim")
OUTPUT_LIMIT = 256 * 1024

RELEASES = {   # series -> (VERSION_ID, VERSION, codename's adjective + animal)
    "focal": ("20.04", "20.04.6 LTS", "Focal Fossa"),
    "jammy": ("22.04", "22.04.4 LTS", "Jammy Jellyfish"),
    "noble": ("24.04", "24.04 LTS", "Noble Numbat"),
}


def os_release(series):
    vid, version, name = RELEASES[series]
    return """PRETTY_NAME="Ubuntu {version}"
NAME="Ubuntu"
VERSION_ID="{vid}"
VERSION="{version} ({name})"
VERSION_CODENAME={series}
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
UBUNTU_CODENAME={series}
""".format(version=version, vid=vid, name=name, series=series)


def lsb_release(series):
    vid, version, _ = RELEASES[series]
    return """DISTRIB_ID=Ubuntu
DISTRIB_RELEASE={vid}
DISTRIB_CODENAME={series}
DISTRIB_DESCRIPTION="Ubuntu {version}"
""".format(vid=vid, series=series, version=version)

# The hook tools' client, like Juju's jujuc: asks the controller over TCP (fast: no
# python start per call), else runs the tool itself with python. Calls that name
# files (--file, --output) read them in the unit's namespace: python does those.
JUJUC = r"""#!/bin/bash
tool=${0##*/}
fast=1
for a in "$@"; do
  case "$a" in --file|--file=*|-o|--output|--output=*|-h|--help) fast= ;; esac
done
if [ -n "$fast" ] && read -r port < @PORTFILE@ 2>/dev/null && [ -n "$port" ] \
    && { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
  printf '%s\0' jujusim1 @MODEL@ "$tool" @UNIT@ "${JUJU_CONTEXT_ID-}" "${JUJU_RELATION-}" \
    "${JUJU_RELATION_ID-}" "${JUJU_REMOTE_UNIT-}" "${JUJU_REMOTE_APP-}" "$#" "$@" >&3
  export LC_ALL=C
  if read -r rc olen elen <&3; then
    out= err=
    if [ "$olen" -gt 0 ]; then IFS= read -r -d '' -N "$olen" out <&3; fi
    if [ "$elen" -gt 0 ]; then IFS= read -r -d '' -N "$elen" err <&3; fi
    exec 3<&-
    printf '%s' "$out"
    printf '%s' "$err" >&2
    exit "$rc"
  fi
  exec 3<&-
fi
exec @FALLBACK@ "$tool" "$@"
"""

# --------------------------------------------------------------------------
# host preparation

def find_cgroup_root():
    """A cgroup directory where we may create children, or None."""
    try:
        mounts = open("/proc/mounts").read().splitlines()
        own = open("/proc/self/cgroup").read().splitlines()
    except OSError:
        return None
    candidates = []
    for line in mounts:
        parts = line.split()
        if len(parts) < 4:
            continue
        mnt, fstype, options = parts[1], parts[2], parts[3].split(",")
        if fstype == "cgroup2":
            rel = next((l.split(":", 2)[2] for l in own if l.startswith("0::")), "/")
            candidates.append(mnt + rel)
        elif fstype == "cgroup" and "pids" in options:
            rel = next((l.split(":", 2)[2] for l in own if ":pids:" in l), "/")
            candidates.append(mnt + rel)
    for base in candidates:
        probe = os.path.join(base, "jujusim-probe-%d" % os.getpid())
        try:
            os.mkdir(probe)
            os.rmdir(probe)
            return base.rstrip("/")
        except OSError:
            continue
    return None


def host_python_for_units():
    """('', None) when the standard PATH has a python3 with venv; else a dir to prepend."""
    for cand in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(cand) and subprocess.call(
                [cand, "-c", "import venv, ensurepip"], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL) == 0:
            return None
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


def ensure_traversable(path):
    """chmod o+x on path's ancestors so that system users can reach it."""
    changed = []
    path = os.path.abspath(path)
    while True:
        parent = os.path.dirname(path)
        st = os.stat(path)
        if os.path.isdir(path) and not st.st_mode & 0o001:
            os.chmod(path, st.st_mode | 0o001)
            changed.append(path)
        if parent == path:
            break
        path = parent
    return changed


def tool_python():
    """The interpreter of the hook tools: Debian's python3 starts several times faster
    than a pyenv build here; any python3 >= 3.9 works."""
    for cand in ("/usr/bin/python3",):
        if os.path.exists(cand) and subprocess.call(
                [cand, "-S", "-I", "-c", "import json, fcntl, sys; assert sys.version_info >= (3, 9)"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0:
            return cand
    return PY


def yaml_paths(python):
    out = subprocess.run([python, "-c", "import os, yaml; print(os.path.dirname(os.path.dirname("
                          "yaml.__file__)))"], capture_output=True, text=True)
    paths = [out.stdout.strip()] if out.returncode == 0 else []
    import yaml
    paths.append(os.path.dirname(os.path.dirname(yaml.__file__)))
    return paths


def init_host(model, st):
    """Files every unit sees (os-release...), cgroup, python. Nothing on the host
    outside the model dir is created: see unit_filesystem()."""
    sysdir = os.path.join(model.path, "sys")
    os.makedirs(sysdir, exist_ok=True)
    for series in RELEASES:
        with open(os.path.join(sysdir, "os-release-" + series), "w") as f:
            f.write(os_release(series))
        with open(os.path.join(sysdir, "lsb-release-" + series), "w") as f:
            f.write(lsb_release(series))
    base = find_cgroup_root()
    if base:
        cg = os.path.join(base, "jujusim-" + st["uuid"][:12])
        os.makedirs(cg, exist_ok=True)
        st["cgroup"] = cg
    python = host_python_for_units()
    if python:
        bindir = os.path.join(model.path, "bin")
        os.makedirs(bindir, exist_ok=True)
        link = os.path.join(bindir, "python3")
        if not os.path.lexists(link):
            os.symlink(python, link)
        ensure_traversable(python)
        st["extra_path"] = bindir
    st["tool_python"] = tool_python()
    with open(os.path.join(model.path, "pylib.path"), "w") as f:
        f.write("\n".join(yaml_paths(st["tool_python"])) + "\n")
    for d in ("logs", "units", "actions", "charms"):
        os.makedirs(os.path.join(model.path, d), exist_ok=True)
        os.chmod(os.path.join(model.path, d), 0o755)


def unit_cgroup(st, unit):
    return os.path.join(st["cgroup"], unit_tag(unit)) if st.get("cgroup") else None


def machine_unit(st, unit):
    """The unit whose folders are the machine's: the principal of a subordinate."""
    return st["units"][unit].get("principal") or unit


# what a subordinate unit shares with its principal (its machine): the backing
# folders of the private paths, /etc, the overlay skeletons, systemd and journal
MACHINE_ENTRIES = ("root", "etc", "skeleton", "sbin", "systemd", "journal")


def unit_filesystem(model, st, unit):
    """What makes the unit's machine its own without changing the host's files.

    /etc: a copy of the host's, made once when the machine's first unit is created
    and bind-mounted over /etc in each of the unit's namespaces, so users and groups
    that the charm adds (useradd rewrites /etc/passwd and /etc/group) stay on this
    machine, as they would on a real one, and mount points under /etc cost the host
    nothing. The copy gets a machine-id of its own (/etc/machine-id), as every
    machine has. Private paths elsewhere that the host lacks (/var/lib/juju...) get
    a mount point from a read-only overlay of their nearest existing folder: the
    host's folder under a skeleton of empty directories. Returns (etc copy,
    overlays as [skeleton, folder] pairs)."""
    udir = model.unit_dir(unit)
    etc = os.path.join(udir, "etc")
    if not os.path.isdir(etc):
        if os.path.exists(etc + ".tmp"):
            shutil.rmtree(etc + ".tmp")
        subprocess.run(["cp", "-a", "/etc/.", etc + ".tmp"], check=True)
        with open(os.path.join(etc + ".tmp", "machine-id"), "w") as f:
            f.write(uuid.uuid4().hex + "\n")
        os.rename(etc + ".tmp", etc)
    for name in ("lsb-release",):
        open(os.path.join(etc, name), "a").close()  # bind-mount targets
    overlays = {}
    for path in st["private_paths"]:
        if path == "/etc" or path.startswith("/etc/"):
            os.makedirs(os.path.join(etc, path[len("/etc/"):]), exist_ok=True)
            continue
        if os.path.isdir(path):
            continue
        base = os.path.dirname(path)
        while not os.path.isdir(base):
            base = os.path.dirname(base)
        if base == "/":
            raise SimError("private path %s: neither it nor a folder above it (but /) exists "
                           "on the host" % path)
        skeleton = os.path.join(udir, "skeleton", base.lstrip("/"))
        os.makedirs(os.path.join(skeleton, os.path.relpath(path, base)), exist_ok=True)
        overlays[base] = skeleton
    return etc, sorted([skeleton, base] for base, skeleton in overlays.items())


def prepare_machine(model, st, unit):
    """The machine of a principal unit: private folders, /etc, systemctl. Runs under a
    lock: a subordinate unit's first event may run at the same time as its
    principal's."""
    import fcntl
    udir = model.unit_dir(unit)
    os.makedirs(udir, exist_ok=True)
    os.chmod(udir, 0o755)
    fd = os.open(udir + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        root = os.path.join(udir, "root")
        os.makedirs(root, exist_ok=True)
        os.chmod(root, 0o755)
        for path in st["private_paths"]:
            d = model.unit_root(unit, path)
            if not os.path.isdir(d):
                os.makedirs(d, exist_ok=True)
                os.chmod(d, 0o755)
        run = model.unit_root(unit, "/run")
        if os.path.isdir(run):
            os.makedirs(os.path.join(run, "systemd", "system"), exist_ok=True)
            os.makedirs(os.path.join(run, "lock"), exist_ok=True)
            os.chmod(os.path.join(run, "lock"), 0o1777)
            os.makedirs(os.path.join(run, "user"), exist_ok=True)
            if not os.path.lexists(os.path.join(run, "shm")):
                os.symlink("/dev/shm", os.path.join(run, "shm"))
        u = st["units"][unit]
        jujud_dir = model.unit_root(unit, "/var/lib/juju/tools/machine-%s" % u["machine"])
        os.makedirs(jujud_dir, exist_ok=True)
        with open(os.path.join(jujud_dir, "jujud"), "w") as f:
            f.write("#!/bin/sh\n# jujusim: stands in for the machine agent binary\n"
                    "case \"$1\" in version|--version) echo %s-ubuntu-amd64 ;; "
                    "*) echo \"jujud (jujusim): only 'version' is supported\" >&2; exit 1 ;; esac\n"
                    % st["juju_version"])
        os.chmod(os.path.join(jujud_dir, "jujud"), 0o755)
        sbin = os.path.join(udir, "sbin")
        os.makedirs(sbin, exist_ok=True)
        for name in ("systemctl", "service"):
            with open(os.path.join(sbin, name), "w") as f:
                f.write("#!/bin/sh\nexec %s -I %s %s %s \"$@\"\n" % (
                    shlex.quote(st.get("tool_python") or PY),
                    shlex.quote(os.path.join(SIMLIB_DIR, "systemd.py")),
                    shlex.quote(udir), name))
            os.chmod(os.path.join(sbin, name), 0o755)
        for d in ("journal", "systemd"):
            os.makedirs(os.path.join(udir, d), exist_ok=True)
        return unit_filesystem(model, st, unit)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def prepare_unit(model, st, unit):
    """The unit's 'machine' (its principal's, for a subordinate), its hook tools and
    agent folder, and what nsexec mounts for it."""
    host = machine_unit(st, unit)
    prepare_machine(model, st, host)
    udir = model.unit_dir(unit)
    os.makedirs(udir, exist_ok=True)
    os.chmod(udir, 0o755)
    if host != unit:
        for name in MACHINE_ENTRIES:
            link = os.path.join(udir, name)
            if not os.path.lexists(link):
                os.symlink(os.path.join("..", unit_tag(host), name), link)
    tag = agent_tag(unit)
    tools = model.unit_root(unit, "/var/lib/juju/tools/" + tag)
    os.makedirs(tools, exist_ok=True)
    shim = os.path.join(tools, "jujuc")
    with open(shim, "w") as f:
        f.write(JUJUC.replace("@PORTFILE@", shlex.quote(os.path.join(model.path, "controller.port")))
                .replace("@UNIT@", shlex.quote(unit))
                .replace("@MODEL@", shlex.quote(model.path))
                .replace("@FALLBACK@", " ".join(shlex.quote(x) for x in (
                    st.get("tool_python") or PY, "-S", "-I",
                    os.path.join(SIMLIB_DIR, "hooktools.py"), model.path, unit))))
    os.chmod(shim, 0o755)
    for name in hooktools.tools_for(st):
        link = os.path.join(tools, name)
        if not os.path.lexists(link):
            os.symlink("jujuc", link)
    os.makedirs(model.unit_root(unit, "/var/lib/juju/agents/" + tag), exist_ok=True)
    write_mounts(model, st, unit)


def write_mounts(model, st, unit):
    """<unit dir>/mounts.json: what nsexec mounts in each of the unit's namespaces
    (rewritten when the machine's series changes)."""
    host = machine_unit(st, unit)
    etc, overlays = unit_filesystem(model, st, host)
    udir = model.unit_dir(unit)
    series = st["units"][unit].get("series") or "jammy"
    binds = []
    for path in sorted(st["private_paths"], key=len):
        binds.append([model.unit_root(host, path), path])
    binds.append([os.path.join(model.path, "sys", "os-release-" + series), "/etc/os-release"])
    binds.append([os.path.join(model.path, "sys", "lsb-release-" + series), "/etc/lsb-release"])
    sbin = os.path.join(model.unit_dir(host), "sbin")
    for real, name in (("/usr/bin/systemctl", "systemctl"), ("/usr/sbin/service", "service")):
        if os.path.exists(real):
            binds.append([os.path.join(sbin, name), real])
    cg = unit_cgroup(st, unit)
    if cg:
        os.makedirs(cg, exist_ok=True)
    spec = {"etc": etc, "overlays": overlays, "binds": binds, "cgroup": cg,
            "ns_record": None if cg else os.path.join(udir, "namespaces")}
    write_json_atomic(os.path.join(udir, "mounts.json"), spec)


def deploy_charm_files(model, unit, src):
    """Copies the charm like Juju's deployer: files of the old charm that the new one
    lacks are removed, files the charm created at run time are kept."""
    dst = model.host_charm_dir(unit)
    manifest_path = os.path.join(model.unit_dir(unit), "charm-manifest.json")
    try:
        old = set(json.load(open(manifest_path)))
    except (OSError, ValueError):
        old = set()
    new = charm_files(src)
    for rel in sorted(old - set(new)):
        try:
            os.unlink(os.path.join(dst, rel))
        except OSError:
            pass
    copy_charm(src, dst)
    write_json_atomic(manifest_path, sorted(new))


def hook_env(model, st, unit, ev, cid):
    u = st["units"][unit]
    tag = agent_tag(unit)
    charm_dir = charm_dir_in_unit(unit)
    path = ["/var/lib/juju/tools/" + tag]
    if st.get("extra_path"):
        path.append(st["extra_path"])
    if not os.path.exists("/usr/bin/systemctl") or not os.path.exists("/usr/sbin/service"):
        path.append(os.path.join(model.unit_dir(unit), "sbin"))
    path.append(STANDARD_PATH)
    env = {
        "PATH": ":".join(path),
        "LANG": "C.UTF-8",
        "HOME": "/root",
        "DEBIAN_FRONTEND": "noninteractive",
        "APT_LISTCHANGES_FRONTEND": "none",
        "CHARM_DIR": charm_dir,
        "JUJU_CHARM_DIR": charm_dir,
        "JUJU_CONTEXT_ID": cid,
        "JUJU_UNIT_NAME": unit,
        "JUJU_PRINCIPAL_UNIT": u.get("principal") or "",
        "JUJU_MODEL_UUID": st["uuid"],
        "JUJU_MODEL_NAME": st["name"],
        "JUJU_MACHINE_ID": u["machine"],
        "JUJU_AVAILABILITY_ZONE": "zone1",
        "JUJU_VERSION": st["juju_version"],
        "JUJU_API_ADDRESSES": "127.0.0.1:17070",
        "JUJU_AGENT_SOCKET_ADDRESS": "@/var/lib/juju/agents/%s/agent.socket" % tag,
        "JUJU_AGENT_SOCKET_NETWORK": "unix",
        "JUJU_CHARM_HTTP_PROXY": "",
        "JUJU_CHARM_HTTPS_PROXY": "",
        "JUJU_CHARM_FTP_PROXY": "",
        "JUJU_CHARM_NO_PROXY": "127.0.0.1,localhost,::1",
        "CLOUD_API_VERSION": "",
        "JUJU_METER_STATUS": "AMBER",
        "JUJU_METER_INFO": "not set",
    }
    if ev["kind"] == "hook":
        env["JUJU_HOOK_NAME"] = ev["hook"]
        env["JUJU_DISPATCH_PATH"] = "hooks/" + ev["hook"]
    elif ev["kind"] == "action":
        act = st["actions"][ev["action_id"]]
        env["JUJU_ACTION_NAME"] = act["name"]
        env["JUJU_ACTION_UUID"] = act["uuid"]
        env["JUJU_ACTION_TAG"] = "action-" + act["uuid"]
        env["JUJU_DISPATCH_PATH"] = "actions/" + act["name"]
    if ev.get("secret_id"):
        env["JUJU_SECRET_ID"] = ev["secret_id"]
        env["JUJU_SECRET_LABEL"] = ev.get("secret_label") or ""
        if ev.get("secret_revision"):
            env["JUJU_SECRET_REVISION"] = str(ev["secret_revision"])
    if ev.get("rid"):
        rel = st["relations"][ev["rid"]]
        env["JUJU_RELATION"] = ev["endpoint"]
        env["JUJU_RELATION_ID"] = ops.rid_for(rel, unit_app(unit))
        env["JUJU_REMOTE_UNIT"] = ev.get("remote_unit") or ""
        env["JUJU_REMOTE_APP"] = ev.get("remote_app") or ""
        if ev.get("departing"):
            env["JUJU_DEPARTING_UNIT"] = ev["departing"]
    return env


# --------------------------------------------------------------------------
# processes of a unit

def unit_pids(model, st, unit):
    cg = unit_cgroup(st, unit)
    pids = set()
    if cg and os.path.isdir(cg):
        try:
            with open(os.path.join(cg, "cgroup.procs")) as f:
                pids.update(int(x) for x in f.read().split())
        except OSError:
            pass
    record = os.path.join(model.unit_dir(unit), "namespaces")
    if os.path.exists(record):
        wanted = set(open(record).read().split())
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.readlink("/proc/%s/ns/mnt" % entry) in wanted:
                        pids.add(int(entry))
                except OSError:
                    pass
    return {p for p in pids if pid_alive(p)}


def stop_services(model, units, timeout=15, st=None):
    """Asks every service supervisor of these units to stop, waits for them. A
    subordinate shares its machine's systemd with its principal: with `st`, only the
    supervisors among the unit's own processes (its cgroup) are asked."""
    sups = []
    for unit in units:
        rundir = os.path.join(model.unit_dir(unit), "systemd", "run")
        if not os.path.isdir(rundir):
            continue
        own = unit_pids(model, st, unit) if st is not None else None
        for fn in os.listdir(rundir):
            if not fn.endswith(".json"):
                continue
            try:
                data = json.load(open(os.path.join(rundir, fn)))
            except (OSError, ValueError):
                continue
            pid = data.get("supervisor")
            if own is not None and pid not in own:
                continue
            if pid in sups:
                continue
            if pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGTERM)
                    sups.append(pid)
                except ProcessLookupError:
                    pass
    deadline = time.time() + timeout
    while time.time() < deadline and any(pid_alive(p) for p in sups):
        time.sleep(0.05)


def kill_unit_processes(model, st, unit, graceful=True):
    if graceful:
        stop_services(model, [unit], st=st)
    for attempt in range(100):
        pids = unit_pids(model, st, unit)
        pids.discard(os.getpid())
        if not pids:
            break
        sig = signal.SIGTERM if attempt < 20 else signal.SIGKILL
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    cg = unit_cgroup(st, unit)
    if cg and os.path.isdir(cg):
        for _ in range(40):
            try:
                os.rmdir(cg)
                break
            except OSError:
                time.sleep(0.05)
    return unit_pids(model, st, unit)


# --------------------------------------------------------------------------
# controller process management

def controller_pid(model):
    try:
        pid = int(open(os.path.join(model.path, "controller.pid")).read().strip())
    except (OSError, ValueError):
        return None
    if not pid_alive(pid):
        return None
    try:
        cmdline = open("/proc/%d/cmdline" % pid, "rb").read().decode(errors="replace")
    except OSError:
        return None
    if "controller" not in cmdline or model.path not in cmdline:
        return None
    return pid


def ensure_controller(model):
    if controller_pid(model):
        return
    log = open(os.path.join(model.path, "logs", "controller.log"), "a")
    subprocess.Popen([PY, JUJUSIM, "--model", model.path, "controller"],
                     stdin=subprocess.DEVNULL, stdout=log, stderr=log, close_fds=True,
                     start_new_session=True, cwd="/")
    log.close()
    for _ in range(100):
        if controller_pid(model):
            return
        time.sleep(0.02)


def stop_controller(model, timeout=10):
    try:
        os.unlink(os.path.join(model.path, "controller.port"))
    except OSError:
        pass
    pid = controller_pid(model)
    if not pid:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.time() + timeout
    while pid_alive(pid) and time.time() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)


def destroy(model):
    """Stops everything the model started. Returns the pids that survived (none)."""
    with model.locked() as st:
        st["destroying"] = True
    stop_controller(model)
    st = model.read()
    units = list(st["units"])
    stop_services(model, units)
    left = {}
    for unit in units:
        pids = kill_unit_processes(model, st, unit, graceful=False)
        if pids:
            left[unit] = sorted(pids)
    if st.get("cgroup") and os.path.isdir(st["cgroup"]):
        for sub in os.listdir(st["cgroup"]):
            path = os.path.join(st["cgroup"], sub)
            if os.path.isdir(path):
                try:
                    os.rmdir(path)
                except OSError:
                    pass
        try:
            os.rmdir(st["cgroup"])
        except OSError:
            pass
    with model.locked() as st:
        st["destroyed"] = True
        for u in st["units"].values():
            u["queue"] = []
            u["running"] = None
    return left


# --------------------------------------------------------------------------
# the hook tool server (the jujuc shims talk to it)

TOOL_ENV_KEYS = ("JUJU_CONTEXT_ID", "JUJU_RELATION", "JUJU_RELATION_ID", "JUJU_REMOTE_UNIT",
                 "JUJU_REMOTE_APP")


class _ToolHandler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        sock.settimeout(60)
        try:
            self._handle(sock)
        except (OSError, ValueError, IndexError):
            return  # the client falls back to running the tool with python

    def _handle(self, sock):
        buf = b""
        fields = []
        want = None
        while want is None or len(fields) < want:
            chunk = sock.recv(65536)
            if not chunk:
                return
            buf += chunk
            while b"\0" in buf:
                field, buf = buf.split(b"\0", 1)
                fields.append(field.decode("utf-8", "surrogateescape"))
                if len(fields) == 10:
                    # another model's shim (a stale port file): let it fall back to python
                    if fields[0] != "jujusim1" or fields[1] != self.server.model_dir:
                        return
                    want = 10 + int(fields[9])
        tool, unit = fields[2], fields[3]
        env = dict(zip(TOOL_ENV_KEYS, fields[4:9]))
        env = {k: v for k, v in env.items() if v}
        try:
            rc, out, err = hooktools.run_tool(self.server.model_dir, unit, tool, fields[10:], env)
        except Exception as e:  # a simulator fault: the hook sees a failing tool
            rc, out, err = 1, "", "ERROR jujusim: %s: %s\n" % (type(e).__name__, e)
        outb = out.encode("utf-8", "surrogateescape")
        errb = err.encode("utf-8", "surrogateescape")
        sock.sendall(b"%d %d %d\n" % (rc, len(outb), len(errb)) + outb + errb)


class ToolServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, model_dir):
        super().__init__(("127.0.0.1", 0), _ToolHandler)
        self.model_dir = model_dir


# --------------------------------------------------------------------------
# the controller loop

class Controller:
    def __init__(self, model):
        self.model = model
        self.children = set()
        self.lock = threading.Lock()
        self.stopping = False

    def serve(self):
        import fcntl
        lockfd = os.open(os.path.join(self.model.path, "controller.lock"),
                         os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lockfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return 0  # another controller runs this model
        with open(os.path.join(self.model.path, "controller.pid"), "w") as f:
            f.write(str(os.getpid()))
        try:
            ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        except (OSError, AttributeError):
            pass
        signal.signal(signal.SIGTERM, self._on_term)
        server = ToolServer(self.model.path)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port_file = os.path.join(self.model.path, "controller.port")
        with open(port_file + ".tmp", "w") as f:
            f.write("%d\n" % server.server_address[1])
        os.replace(port_file + ".tmp", port_file)
        self._say("controller started (pid %d, hook tools on 127.0.0.1:%d)"
                  % (os.getpid(), server.server_address[1]))
        self._recover()
        threading.Thread(target=self._reaper, daemon=True).start()
        forwarder = ingress.Forwarder(self.model, self._say)
        threading.Thread(target=forwarder.run, args=(lambda: self.stopping,),
                         daemon=True).start()
        workers = []
        while not self.stopping:
            claimed = None
            with self.model.locked() as st:
                if st["destroying"]:
                    break
                claimed = ops.claim_next(st, st.get("parallel", 1))
                if claimed:
                    unit, ev = claimed
                    cid = None
                    env = None
                    if ev["kind"] in ("hook", "action", "exec"):
                        cid = ops.new_context(st, unit, ev)
                        if ev["kind"] in ("action", "exec"):
                            act = st["actions"][ev["action_id"]]
                            act["status"] = "running"
                            act["started"] = now()
                        env = hook_env(self.model, st, unit, ev, cid)
                    snapshot = {"cgroup": st.get("cgroup"), "timeout": st.get("hook_timeout", 600),
                                "python": st.get("tool_python") or PY,
                                "private_paths": st["private_paths"]}
            if claimed:
                t = threading.Thread(target=self._execute, args=(unit, ev, cid, env, snapshot),
                                     daemon=True)
                t.start()
                workers.append(t)
                continue
            workers = [t for t in workers if t.is_alive()]
            time.sleep(0.05)
        self._say("controller stopping")
        server.shutdown()
        try:
            os.unlink(port_file)
        except OSError:
            pass
        return 0

    def _on_term(self, signum, frame):
        self.stopping = True
        raise SystemExit(0)

    def _say(self, msg):
        sys.stdout.write("%s %s\n" % (time.strftime("%Y-%m-%d %H:%M:%S"), msg))
        sys.stdout.flush()

    def _recover(self):
        """Events left 'running' by a controller that died: they failed."""
        with self.model.locked() as st:
            for unit, u in st["units"].items():
                ev = u.get("running")
                if not ev:
                    continue
                self.model.log(unit, "=== %s interrupted: the controller stopped while it ran ===" %
                               (ev.get("hook") or ev["kind"]))
                cids = [c for c, ctx in st["contexts"].items() if ctx["unit"] == unit]
                for c in cids:
                    del st["contexts"][c]
                if ev["kind"] in ("action", "exec"):
                    act = st["actions"].get(ev.get("action_id"), {})
                    act.update(status="failed", message="the unit agent stopped while it ran",
                               completed=now())
                    u["running"] = None
                elif ev["kind"] == "hook":
                    ops.finish_event(st, unit, ev, False, None)
                else:
                    u["running"] = None
                    u["queue"].insert(0, ev)

    def _reaper(self):
        me = os.getpid()
        while True:
            time.sleep(0.5)
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                pid = int(entry)
                with self.lock:
                    if pid in self.children:
                        continue
                try:
                    stat = open("/proc/%d/stat" % pid).read()
                except OSError:
                    continue
                fields = stat.rsplit(")", 1)[-1].split()
                if fields[0] == "Z" and int(fields[1]) == me:
                    try:
                        os.waitpid(pid, os.WNOHANG)
                    except ChildProcessError:
                        pass

    def _execute(self, unit, ev, cid, env, snapshot):
        started = time.time()
        ok, rc, out, err = True, 0, "", ""
        kind = ev["kind"]
        label = ev.get("hook") or kind
        try:
            if kind == "deploy-charm":
                st = self.model.read()
                prepare_unit(self.model, st, unit)
                deploy_charm_files(self.model, unit, ev["src"])
                self.model.log(unit, "=== charm deployed (revision %s) ===" % ev.get("rev", 0))
            elif kind == "remove":
                st = self.model.read()
                left = kill_unit_processes(self.model, st, unit)
                self.model.log(unit, "=== unit removed%s ===" % (
                    "" if not left else " (processes left: %s)" % sorted(left)))
            else:
                ok, rc, out, err = self._run_program(unit, ev, cid, env, snapshot)
        except Exception as e:  # a simulator fault: report it as a failed hook
            import traceback
            ok, rc = False, 1
            self.model.log(unit, "=== jujusim error while running %s: %s ===" % (label, e))
            with open(self.model.unit_log(unit), "a") as f:
                f.write(traceback.format_exc())
        elapsed = time.time() - started
        try:
            errored = self._finish(unit, ev, cid, ok, rc, out, err)
        except Exception:  # never leave the unit "running" forever
            import traceback
            self._say("error while recording %s on %s:\n%s" % (label, unit, traceback.format_exc()))
            with self.model.locked() as st:
                if unit in st["units"]:
                    st["units"][unit]["running"] = None
            return
        if kind == "hook" and errored:
            self.model.log(unit, '=== hook "%s" failed: exit %d (%.2fs); the unit is in error '
                           'until `jujusim resolved %s` ===' % (label, rc, elapsed, unit))

    def _finish(self, unit, ev, cid, ok, rc, out, err):
        """Records the outcome; returns True when a hook put the unit in error."""
        kind = ev["kind"]
        with self.model.locked() as st:
            if kind == "remove":
                ops.finalize_removal(st, unit)
                return False
            if kind in ("action", "exec"):
                act = st["actions"][ev["action_id"]]
                act["return-code"] = rc
                act["stdout"] = out
                act["stderr"] = err
                act["completed"] = now()
                if act.get("failed"):
                    act["status"] = "failed"
                elif rc != 0:
                    act["status"] = "failed"
                    act["message"] = act.get("message") or "exit status %d" % rc
                else:
                    act["status"] = "completed"
                if rc != 0 and cid:
                    st["contexts"].pop(cid, None)
                    cid = None
                ops.finish_event(st, unit, ev, True, cid)
                return False
            return ops.finish_event(st, unit, ev, ok, cid)

    def _run_program(self, unit, ev, cid, env, snapshot):
        kind = ev["kind"]
        host_charm = self.model.host_charm_dir(unit)
        ns_charm = charm_dir_in_unit(unit)
        spec = os.path.join(self.model.unit_dir(unit), "mounts.json")
        if kind == "hook":
            hook = ev["hook"]
            if os.path.exists(os.path.join(host_charm, "dispatch")):
                argv = [ns_charm + "/dispatch"]
            elif os.path.lexists(os.path.join(host_charm, "hooks", hook)):
                argv = [ns_charm + "/hooks/" + hook]
            else:
                self.model.log(unit, "=== %s: no hook (skipped) ===" % hook)
                return True, 0, "", ""
            name = hook
        elif kind == "action":
            st = self.model.read()
            name = st["actions"][ev["action_id"]]["name"]
            if os.path.exists(os.path.join(host_charm, "dispatch")):
                argv = [ns_charm + "/dispatch"]
            elif os.path.lexists(os.path.join(host_charm, "actions", name)):
                argv = [ns_charm + "/actions/" + name]
            else:
                msg = 'action "%s" is not implemented on unit "%s"' % (name, unit)
                self.model.log(unit, "=== %s ===" % msg)
                return False, 1, "", msg
        else:
            argv = list(ev["argv"])
            name = "exec " + " ".join(shlex.quote(a) for a in argv)
        cmd = ["unshare", "--mount", "--propagation", "private", "--",
               snapshot["python"], "-S", "-I", NSEXEC, spec, ns_charm, "--"] + argv
        self.model.log(unit, "=== running %s%s ===" % (
            "action " if kind == "action" else "", name if kind != "hook" else "hook " + name))
        started = time.time()
        capture = kind in ("action", "exec")
        if capture:
            outp = os.path.join(self.model.path, "actions", "%s.out" % ev["action_id"])
            errp = os.path.join(self.model.path, "actions", "%s.err" % ev["action_id"])
            fout, ferr = open(outp, "wb"), open(errp, "wb")
        else:
            fout = ferr = open(self.model.unit_log(unit), "ab")
        timeout = snapshot["timeout"]
        try:
            proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=fout,
                                    stderr=ferr, start_new_session=True, cwd="/")
            with self.lock:
                self.children.add(proc.pid)
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                rc = proc.wait()
                self.model.log(unit, "=== %s killed: it ran longer than %ss ===" % (name, timeout))
            with self.lock:
                self.children.discard(proc.pid)
        finally:
            fout.close()
            if ferr is not fout:
                ferr.close()
        out = err = ""
        if capture:
            out = open(outp, "rb").read()[-OUTPUT_LIMIT:].decode(errors="replace")
            err = open(errp, "rb").read()[-OUTPUT_LIMIT:].decode(errors="replace")
            with open(self.model.unit_log(unit), "a") as f:
                if out:
                    f.write(out if out.endswith("\n") else out + "\n")
                if err:
                    f.write(err if err.endswith("\n") else err + "\n")
        self.model.log(unit, "=== %s exited %d (%.2fs) ===" % (name, rc, time.time() - started))
        return rc == 0, rc, out, err
