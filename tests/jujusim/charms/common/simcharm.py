"""Hook-tool helpers shared by the jujusim stand-in charms (plain Python, no deps).

Each stand-in charm ships a copy (lib/simcharm.py is a symlink here; the simulator
copies charms with symlinks resolved, like `charm build` output would hold files).
"""
import hashlib
import json
import os
import subprocess
import sys

UNIT = os.environ.get("JUJU_UNIT_NAME", "")
APP = UNIT.split("/")[0]
CHARM_DIR = os.environ.get("JUJU_CHARM_DIR", os.getcwd())


def yaml():
    """PyYAML: the unit's python3 usually has it (python3-yaml); else the one the
    simulator runs with (its folders are listed in <model>/pylib.path, which the
    unit's jujuc shim names). Real charms ship their own dependencies."""
    try:
        import yaml as mod
        return mod
    except ImportError:
        pass
    import re
    tag = "unit-" + UNIT.replace("/", "-")
    try:
        shim = open("/var/lib/juju/tools/%s/jujuc" % tag).read()
        model = re.search(r"hooktools\.py'? '?([^' ]+)'? ", shim).group(1)
        sys.path.extend(open(os.path.join(model, "pylib.path")).read().split())
    except (OSError, AttributeError):
        pass
    import yaml as mod
    return mod


def hook_name():
    """'install', 'db-relation-changed', ... (from Juju's dispatch path)."""
    return os.environ.get("JUJU_DISPATCH_PATH", "hooks/" + os.path.basename(sys.argv[0])).split("/", 1)[1]


def run(*args, check=True, input=None):
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, input=input)
    if check and proc.returncode != 0:
        raise RuntimeError("%s failed (exit %d): %s" % (" ".join(map(str, args[:2])),
                                                         proc.returncode, proc.stderr.strip()))
    return proc


def get(*args):
    return json.loads(run(*args, "--format=json").stdout or "null")


def log(message, level="INFO"):
    run("juju-log", "-l", level, message, check=False)


def status(state, message):
    run("status-set", state, message)


def config():
    return get("config-get", "--all")


def is_leader():
    return bool(get("is-leader"))


def leader_get():
    return get("leader-get") or {}


def leader_set(**values):
    if values:
        run("leader-set", *["%s=%s" % (k, "" if v is None else v) for k, v in values.items()])


def relation_ids(endpoint):
    return get("relation-ids", endpoint) or []


def related_units(rid):
    return get("relation-list", "-r", rid) or []


def remote_app(rid):
    return run("relation-list", "-r", rid, "--app").stdout.strip()


def relation_get(rid, unit=None, app=None):
    if app:
        return get("relation-get", "-r", rid, "--app", "-", app) or {}
    return get("relation-get", "-r", rid, "-", unit) or {}


def relation_set(rid, app=False, **values):
    """Values None or "" remove the key (Juju semantics)."""
    args = ["relation-set", "-r", rid] + (["--app"] if app else [])
    args += ["%s=%s" % (k, "" if v is None else v) for k, v in values.items()]
    run(*args)


def juju_version():
    """(major, minor, patch) of the unit agent (JUJU_VERSION)."""
    import re
    nums = re.findall(r"\d+", os.environ.get("JUJU_VERSION", "0"))[:3]
    return tuple(int(n) for n in nums + ["0"] * (3 - len(nums)))


def secret_add(content, label=None, owner="application"):
    args = ["secret-add", "--owner", owner]
    if label:
        args += ["--label", label]
    return run(*(args + ["%s=%s" % kv for kv in sorted(content.items())])).stdout.strip()


def secret_info(label):
    """{id, revision, label, ...} of a secret this unit/app owns, by label; None if none."""
    proc = run("secret-info-get", "--label", label, "--format=json", check=False)
    if proc.returncode != 0:
        return None
    (sid, info), = json.loads(proc.stdout).items()
    info["id"] = sid
    return info


def secret_get(ref=None, label=None):
    args = ["secret-get"] + ([ref] if ref else []) + (["--label", label] if label else [])
    return json.loads(run(*(args + ["--format=json"])).stdout)


def secret_set(ref, content):
    run(*(["secret-set", ref] + ["%s=%s" % kv for kv in sorted(content.items())]))


def secret_grant(ref, rid):
    run("secret-grant", ref, "--relation", rid)


def secret_remove(ref):
    run("secret-remove", ref, check=False)


def unit_address():
    return run("unit-get", "private-address").stdout.strip()


def open_port(port, proto="tcp"):
    run("open-port", "%s/%s" % (port, proto))


def systemctl(*args, check=True):
    return run("systemctl", *args, check=check)


def write_file(path, content, mode=0o644):
    """Writes only when the content differs; returns True when it changed."""
    data = content.encode() if isinstance(content, str) else content
    try:
        with open(path, "rb") as f:
            if f.read() == data:
                os.chmod(path, mode)
                return False
    except OSError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return True


def digest(text):
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def main(handler):
    """Runs handler(hook_name) with errors logged (a failing hook exits 1, like Juju wants)."""
    name = hook_name()
    try:
        handler(name)
    except Exception as e:  # noqa: BLE001 - report and fail the hook
        import traceback
        log("hook %s failed: %s\n%s" % (name, e, traceback.format_exc()), "ERROR")
        sys.stderr.write(traceback.format_exc())
        sys.exit(1)
