"""A small systemd for the simulated units: `systemctl`, `service` and a supervisor.

Inside a unit's mount namespace /usr/bin/systemctl and /usr/sbin/service are shims
that run `python -I systemd.py <unit dir> systemctl|service ARGS`. Services are
real processes started from the unit files in /etc/systemd/system (the unit's
private folder), /run/systemd/system and /lib/systemd/system.

Each started service gets a supervisor process (in the unit's namespace, so the
service sees the unit's private paths) that:
- runs ExecStartPre, ExecStart, ExecStartPost (and ExecStop/ExecStopPost on stop)
  with User=, Group=, SupplementaryGroups=, Environment=, EnvironmentFile=,
  WorkingDirectory=, UMask=, RuntimeDirectory=/StateDirectory=/CacheDirectory=/
  LogsDirectory=;
- restarts the main process per Restart= (no, on-failure, on-abnormal, always) after
  RestartSec=, within StartLimitBurst=/StartLimitIntervalSec=;
- on stop sends KillSignal= to the main process group, SIGKILL after TimeoutStopSec=;
- writes the service's stdout/stderr to <unit dir>/journal/<name>.log.
AmbientCapabilities= is honoured (setpriv); other hardening options (ProtectSystem=,
PrivateTmp=, NoNewPrivileges= ...) are ignored.

Like systemd, a unit file is read once ("loaded"); after the file changes the old
definition stays in use, with systemd's warning, until `systemctl daemon-reload`.

State lives under <unit dir>/systemd/: loaded/<name>.json (the loaded definition)
and run/<name>.json (supervisor pid, main pid, state).
"""

import fcntl
import glob
import grp
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid

UNIT_PATHS = ["/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
              "/usr/lib/systemd/system", "/lib/systemd/system"]
SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CLEAN_SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE)


class UnitError(Exception):
    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------
# helpers

def pid_alive(pid):
    """True for a live process (zombies count as dead)."""
    if not pid:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


def write_json(path, data):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def read_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def normalize(name):
    if "." not in name.rsplit("@", 1)[-1] or not re.search(
            r"\.(service|socket|target|timer|mount|path)$", name):
        return name + ".service"
    return name


def parse_unit_text(text):
    """INI with repeated keys: {section: [(key, value), ...]}."""
    sections = {}
    current = None
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if pending:
            line = pending + " " + line
            pending = ""
        if line.endswith("\\"):
            pending = line[:-1].rstrip()
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        if current is None or "=" not in line:
            continue
        key, value = line.split("=", 1)
        current.append((key.strip(), value.strip()))
    return sections


def find_unit_file(name):
    for base in UNIT_PATHS:
        path = os.path.join(base, name)
        if os.path.lexists(path):
            return path
    if "@" in name:
        template = re.sub(r"@[^.]*\.", "@.", name)
        for base in UNIT_PATHS:
            path = os.path.join(base, template)
            if os.path.exists(path):
                return path
    return None


def read_unit_source(name):
    """(path, text including drop-ins) or (None, None)."""
    path = find_unit_file(name)
    if path is None:
        return None, None
    if os.path.realpath(path) == "/dev/null":
        return path, None
    with open(path) as f:
        text = f.read()
    for base in UNIT_PATHS:
        for dropin in sorted(glob.glob(os.path.join(base, name + ".d", "*.conf"))):
            with open(dropin) as f:
                text += "\n" + f.read()
    return path, text


def service_config(name, sections):
    """The [Service]/[Unit]/[Install] settings the supervisor uses."""
    svc = sections.get("Service", [])
    lists = ("ExecStartPre", "ExecStart", "ExecStartPost", "ExecStop", "ExecStopPost",
             "ExecReload", "Environment", "EnvironmentFile", "SupplementaryGroups",
             "RuntimeDirectory", "StateDirectory", "CacheDirectory", "LogsDirectory")
    cfg = {k: [] for k in lists}
    for key, value in svc:
        if key in lists:
            if value == "":
                cfg[key] = []
            else:
                cfg[key].append(value)
        else:
            cfg[key] = value
    unit = dict(sections.get("Unit", []))
    cfg["Description"] = unit.get("Description", name)
    cfg["StartLimitBurst"] = unit.get("StartLimitBurst", cfg.get("StartLimitBurst", "5"))
    cfg["StartLimitIntervalSec"] = unit.get("StartLimitIntervalSec",
                                            cfg.get("StartLimitIntervalSec", "10"))
    cfg["WantedBy"] = []
    for key, value in sections.get("Install", []):
        if key in ("WantedBy", "RequiredBy"):
            cfg["WantedBy"].extend(value.split())
    cfg["has_install"] = "Install" in sections
    return cfg


def seconds(value, default):
    if value is None or value == "":
        return default
    value = str(value).strip()
    if value == "infinity":
        return 10 ** 9
    total = 0.0
    matched = False
    for num, unit in re.findall(r"([\d.]+)\s*(ms|s|sec|min|m|h)?", value):
        matched = True
        mult = {"ms": 0.001, "min": 60, "m": 60, "h": 3600}.get(unit, 1)
        total += float(num) * mult
    return total if matched else default


def parse_env_file(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;" or "=" not in line:
                continue
            if line.startswith("export "):
                line = line[7:]
            key, value = line.split("=", 1)
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            env[key.strip()] = value
    return env


# --------------------------------------------------------------------------
# systemd state of one unit (the simulated machine)

class Systemd:
    def __init__(self, unit_dir):
        self.unit_dir = unit_dir
        self.base = os.path.join(unit_dir, "systemd")
        self.loaded_dir = os.path.join(self.base, "loaded")
        self.run_dir = os.path.join(self.base, "run")
        self.journal_dir = os.path.join(unit_dir, "journal")
        for d in (self.loaded_dir, self.run_dir, self.journal_dir):
            os.makedirs(d, exist_ok=True)
        self.quiet = False
        self.no_block = False

    # ---- loading ----
    def load(self, name, warn=True):
        """The loaded definition: {'name','path','text','masked','config'} or None."""
        snap_path = os.path.join(self.loaded_dir, name + ".json")
        path, text = read_unit_source(name)
        masked = path is not None and text is None
        snap = read_json(snap_path)
        if snap is not None and not masked:
            if text is not None and text != snap["text"] and warn:
                sys.stderr.write(
                    "Warning: The unit file, source configuration file or drop-ins of %s "
                    "changed on disk. Run 'systemctl daemon-reload' to reload units.\n" % name)
            snap["masked"] = False
            return snap
        if path is None:
            return None
        if masked:
            return {"name": name, "path": path, "text": "", "masked": True, "config": {}}
        snap = {"name": name, "path": path, "text": text, "masked": False,
                "config": service_config(name, parse_unit_text(text))}
        write_json(snap_path, snap)
        return snap

    def daemon_reload(self):
        for path in glob.glob(os.path.join(self.loaded_dir, "*.json")):
            os.unlink(path)

    # ---- runtime state ----
    def run_state_path(self, name):
        return os.path.join(self.run_dir, name + ".json")

    def run_state(self, name):
        st = read_json(self.run_state_path(name), {}) or {}
        state = st.get("state", "inactive")
        if state in ("active", "activating", "deactivating", "reloading") and \
                not pid_alive(st.get("supervisor")):
            state = "failed" if state != "deactivating" else "inactive"
            st["state"] = state
        st.setdefault("state", "inactive")
        return st

    def lock(self, name):
        fd = os.open(os.path.join(self.run_dir, name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def journal(self, name):
        return os.path.join(self.journal_dir, name + ".log")

    # ---- enablement ----
    def is_enabled(self, unit):
        if unit is None:
            return "not-found"
        if unit["masked"]:
            return "masked"
        cfg = unit["config"]
        if not cfg.get("has_install") or not cfg["WantedBy"]:
            return "static"
        for target in cfg["WantedBy"]:
            if os.path.lexists(os.path.join("/etc/systemd/system", target + ".wants", unit["name"])):
                return "enabled"
        return "disabled"

    # ---- verbs ----
    def start(self, name):
        unit = self.load(name)
        if unit is None:
            raise UnitError("Failed to start %s: Unit %s not found." % (name, name), 5)
        if unit["masked"]:
            raise UnitError("Failed to start %s: Unit %s is masked." % (name, name), 1)
        fd = self.lock(name)
        try:
            st = self.run_state(name)
            if st["state"] in ("active", "activating", "reloading"):
                return 0
            proc = self._spawn_supervisor(name)
            if self.no_block:
                return 0
            timeout = seconds(unit["config"].get("TimeoutStartSec"), 90) + 5
            deadline = time.time() + timeout
            while time.time() < deadline:
                st = read_json(self.run_state_path(name), {}) or {}
                if st.get("token") == self._token and st.get("state") in ("active", "failed", "inactive"):
                    break
                if proc.poll() is not None:
                    break
                time.sleep(0.02)
            st = self.run_state(name)
            if st["state"] == "failed" or (st.get("result") not in (None, "success")
                                           and st["state"] != "active"):
                raise UnitError(
                    "Job for %s failed because the control process exited with error code.\n"
                    'See "systemctl status %s" and "journalctl -xeu %s" for details.'
                    % (name, name, name), 1)
            return 0
        finally:
            os.close(fd)

    def _spawn_supervisor(self, name):
        self._token = uuid.uuid4().hex
        write_json(self.run_state_path(name), {"state": "activating", "token": self._token,
                                               "supervisor": None, "main": None})
        with open(self.journal(name), "a") as log:
            return subprocess.Popen(
                [sys.executable, "-I", os.path.abspath(__file__), self.unit_dir, "supervise",
                 name, self._token],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, close_fds=True,
                start_new_session=True, cwd="/")

    def stop(self, name):
        unit = self.load(name, warn=False)
        st = self.run_state(name)
        if unit is None and not st.get("supervisor"):
            raise UnitError("Failed to stop %s: Unit %s not loaded." % (name, name), 5)
        fd = self.lock(name)
        try:
            st = self.run_state(name)
            sup = st.get("supervisor")
            if pid_alive(sup):
                try:
                    os.kill(sup, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                timeout = seconds((unit or {}).get("config", {}).get("TimeoutStopSec"), 90) + 10
                deadline = time.time() + timeout
                while pid_alive(sup) and time.time() < deadline:
                    time.sleep(0.02)
                if pid_alive(sup):
                    os.kill(sup, signal.SIGKILL)
            main = st.get("main")
            if pid_alive(main):  # supervisor gone but the service lives on
                kill_group(main, signal.SIGKILL)
            st = read_json(self.run_state_path(name), {}) or {}
            if st.get("state") != "failed":
                st["state"] = "inactive"
            st["supervisor"] = None
            st["main"] = None
            write_json(self.run_state_path(name), st)
            return 0
        finally:
            os.close(fd)

    def restart(self, name):
        unit = self.load(name)
        if unit is None:
            raise UnitError("Failed to restart %s: Unit %s not found." % (name, name), 5)
        if self.run_state(name)["state"] != "inactive" or self.run_state(name).get("supervisor"):
            self.stop(name)
        return self.start(name)

    def reload(self, name):
        unit = self.load(name)
        if unit is None:
            raise UnitError("Failed to reload %s: Unit %s not found." % (name, name), 5)
        st = self.run_state(name)
        if st["state"] != "active":
            raise UnitError("%s is not active, cannot reload." % name, 1)
        cfg = unit["config"]
        if not cfg["ExecReload"]:
            raise UnitError("Failed to reload %s: Job type reload is not applicable for unit %s."
                            % (name, name), 1)
        env = service_env(name, cfg)
        env["MAINPID"] = str(st.get("main") or "")
        with open(self.journal(name), "a") as log:
            for line in cfg["ExecReload"]:
                rc = run_command(line, name, cfg, env, log)
                if rc != 0 and not line.startswith("-"):
                    raise UnitError(
                        "Job for %s failed because the control process exited with error code."
                        % name, 1)
        return 0

    def kill(self, name, sig):
        st = self.run_state(name)
        if pid_alive(st.get("main")):
            kill_group(st["main"], sig)
        return 0

    def status_text(self, name):
        unit = self.load(name, warn=False)
        if unit is None:
            return "Unit %s could not be found." % name, 4
        st = self.run_state(name)
        state = st["state"]
        sub = {"active": "running", "activating": "auto-restart", "failed": "failed",
               "inactive": "dead", "deactivating": "stop-sigterm"}.get(state, state)
        lines = ["\u25cf %s - %s" % (name, unit["config"].get("Description", name)),
                 "     Loaded: %s (%s; %s)" % ("masked" if unit["masked"] else "loaded",
                                              unit["path"], self.is_enabled(unit)),
                 "     Active: %s (%s)%s" % (state, sub, (" since %s" % st["since"])
                                             if st.get("since") else "")]
        if state == "active" and st.get("main"):
            lines.append("   Main PID: %d" % st["main"])
        if st.get("restarts"):
            lines.append("   Restarts: %d" % st["restarts"])
        try:
            with open(self.journal(name)) as f:
                tail = f.read().splitlines()[-10:]
            lines.append("")
            lines.extend(tail)
        except OSError:
            pass
        return "\n".join(lines), (0 if state == "active" else 3)

    def show(self, name, props):
        unit = self.load(name, warn=False)
        st = self.run_state(name)
        state = st["state"] if unit else "inactive"
        values = {
            "Id": name,
            "LoadState": ("masked" if unit and unit["masked"] else "loaded") if unit else "not-found",
            "ActiveState": state,
            "SubState": {"active": "running", "failed": "failed", "activating": "auto-restart"}.get(
                state, "dead"),
            "MainPID": str(st.get("main") or 0) if state == "active" else "0",
            "UnitFileState": self.is_enabled(unit) if unit else "",
            "NRestarts": str(st.get("restarts", 0)),
            "ExecMainStatus": str(st.get("exit_status", 0)),
            "Result": st.get("result", "success"),
            "FragmentPath": unit["path"] if unit else "",
            "Description": unit["config"].get("Description", name) if unit else name,
        }
        return {k: values.get(k, "") for k in (props or values.keys())}


def kill_group(pid, sig):
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


# --------------------------------------------------------------------------
# running commands the systemd way

def service_env(name, cfg):
    env = {"PATH": SERVICE_PATH, "LANG": "C.UTF-8", "INVOCATION_ID": uuid.uuid4().hex}
    user = cfg.get("User")
    if user:
        try:
            pw = pwd.getpwnam(user) if not user.isdigit() else pwd.getpwuid(int(user))
            env.update({"HOME": pw.pw_dir, "USER": pw.pw_name, "LOGNAME": pw.pw_name,
                        "SHELL": pw.pw_shell})
        except KeyError:
            pass
    else:
        env.update({"HOME": "/root", "USER": "root", "LOGNAME": "root", "SHELL": "/bin/sh"})
    for line in cfg.get("Environment", []):
        for item in shlex.split(line):
            if "=" in item:
                key, value = item.split("=", 1)
                env[key] = value
    for spec in cfg.get("EnvironmentFile", []):
        optional = spec.startswith("-")
        path = spec.lstrip("-")
        for p in sorted(glob.glob(path)) or [path]:
            try:
                env.update(parse_env_file(p))
            except OSError:
                if not optional:
                    raise UnitError("Failed to load environment files: %s" % p)
    return env


def _specifiers(text, name, cfg, env):
    prefix = name.rsplit(".", 1)[0]
    instance = prefix.split("@", 1)[1] if "@" in prefix else ""
    table = {"n": name, "N": prefix, "p": prefix.split("@", 1)[0], "i": instance, "I": instance,
             "t": "/run", "S": "/var/lib", "C": "/var/cache", "L": "/var/log", "E": "/etc",
             "h": env.get("HOME", "/root"), "u": env.get("USER", "root"), "%": "%"}
    return re.sub(r"%(.)", lambda m: table.get(m.group(1), m.group(0)), text)


def expand_command(line, name, cfg, env):
    """(argv, flags) for an Exec*= line: prefixes, specifiers, $VAR / ${VAR}."""
    flags = ""
    while line and line[0] in "@-:+!":
        flags += line[0]
        line = line[1:]
    words = shlex.split(_specifiers(line, name, cfg, env))
    argv = []
    for word in words:
        m = re.match(r"^\$([A-Za-z_][A-Za-z0-9_]*)$", word)
        if m and ":" not in flags:
            argv.extend(env.get(m.group(1), "").split())
            continue
        if ":" not in flags:
            word = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda x: env.get(x.group(1), ""), word)
        argv.append(word)
    if argv and not argv[0].startswith("/"):
        import shutil
        found = shutil.which(argv[0], path=env.get("PATH", SERVICE_PATH))
        if found:
            argv[0] = found
    return argv, flags


def credentials(cfg):
    """(uid, gid, extra_gids) or None for root."""
    user, group = cfg.get("User"), cfg.get("Group")
    if not user and not group:
        return None
    uid, gid = 0, 0
    if user:
        pw = pwd.getpwnam(user) if not user.isdigit() else pwd.getpwuid(int(user))
        uid, gid = pw.pw_uid, pw.pw_gid
    if group:
        gid = grp.getgrnam(group).gr_gid if not group.isdigit() else int(group)
    extra = []
    for spec in cfg.get("SupplementaryGroups", []):
        for g in spec.split():
            extra.append(grp.getgrnam(g).gr_gid if not g.isdigit() else int(g))
    return uid, gid, extra


def ambient_capabilities(cfg):
    """AmbientCapabilities= as setpriv's list (+net_bind_service,...), or None."""
    names = [c for c in str(cfg.get("AmbientCapabilities") or "").split() if c.upper().startswith("CAP_")]
    return ",".join("+" + c.lower()[4:] for c in names) or None


def popen_command(line, name, cfg, env, log, privileged=False):
    argv, flags = expand_command(line, name, cfg, env)
    if not argv:
        raise UnitError("empty command line in %s" % name)
    kwargs = {}
    creds = credentials(cfg)
    if creds and "+" not in flags and not privileged:
        uid, gid, extra = creds
        caps = ambient_capabilities(cfg)
        if caps:
            # AmbientCapabilities= (e.g. CAP_NET_BIND_SERVICE for a port below 1024): the
            # process runs as User= with those capabilities, through util-linux's setpriv.
            groups = ["--groups", ",".join(str(g) for g in extra)] if extra else ["--clear-groups"]
            inner = [argv[0]] + argv[2:] if "@" in flags and len(argv) > 1 else argv
            argv = ([shutil.which("setpriv") or "/usr/bin/setpriv", "--reuid", str(uid), "--regid", str(gid)]
                    + groups + ["--inh-caps", caps, "--ambient-caps", caps, "--"] + inner)
            flags = flags.replace("@", "")
        else:
            kwargs.update(user=uid, group=gid, extra_groups=extra)
    cwd = cfg.get("WorkingDirectory")
    if cwd:
        optional = cwd.startswith("-")
        cwd = cwd.lstrip("-")
        if cwd == "~":
            cwd = env.get("HOME", "/")
        if not os.path.isdir(cwd):
            if not optional:
                raise UnitError("Changing to the requested working directory failed: %s" % cwd)
            cwd = None
    umask = cfg.get("UMask")
    if umask:
        kwargs["umask"] = int(umask, 8)
    executable = argv[0]
    if "@" in flags and len(argv) > 1:
        argv = argv[1:]
    return subprocess.Popen(argv, executable=executable, env=env, cwd=cwd or "/",
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log, close_fds=True,
                            start_new_session=True, **kwargs), flags


def run_command(line, name, cfg, env, log):
    try:
        proc, flags = popen_command(line, name, cfg, env, log)
    except (OSError, UnitError, KeyError) as e:
        log.write("%s: %s\n" % (name, e))
        log.flush()
        return 0 if line.startswith("-") else 203
    rc = proc.wait()
    return 0 if "-" in flags else rc


# --------------------------------------------------------------------------
# the supervisor

def supervise(unit_dir, name, token):
    sd = Systemd(unit_dir)
    unit = sd.load(name, warn=False)
    state_path = sd.run_state_path(name)
    cfg = unit["config"]
    log = sys.stdout
    stop = {"requested": False}

    def on_term(signum, frame):
        stop["requested"] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    state = {"state": "activating", "token": token, "supervisor": os.getpid(), "main": None,
             "restarts": 0, "result": "success", "since": time.strftime("%Y-%m-%d %H:%M:%S")}

    def save(**kw):
        state.update(kw)
        write_json(state_path, state)

    def say(msg):
        log.write("%s %s: %s\n" % (time.strftime("%Y-%m-%d %H:%M:%S"), name, msg))
        log.flush()

    save()
    try:
        env = service_env(name, cfg)
    except UnitError as e:
        say(str(e))
        save(state="failed", result="resources", supervisor=None)
        return 1
    creds = credentials(cfg)
    dirs = [("RuntimeDirectory", "/run"), ("StateDirectory", "/var/lib"),
            ("CacheDirectory", "/var/cache"), ("LogsDirectory", "/var/log")]
    for key, base in dirs:
        for spec in cfg.get(key, []):
            for d in spec.split():
                path = os.path.join(base, d)
                os.makedirs(path, exist_ok=True)
                if creds:
                    os.chown(path, creds[0], creds[1])
    service_type = cfg.get("Type", "simple")
    burst = int(cfg.get("StartLimitBurst") or 5)
    interval = seconds(cfg.get("StartLimitIntervalSec"), 10)
    restart_sec = seconds(cfg.get("RestartSec"), 0.1)
    restart_mode = cfg.get("Restart", "no")
    stop_timeout = seconds(cfg.get("TimeoutStopSec"), 90)
    kill_sig = getattr(signal, cfg.get("KillSignal", "SIGTERM"), signal.SIGTERM)
    starts = []

    def run_list(key, extra_env=None):
        e = dict(env)
        e.update(extra_env or {})
        for line in cfg.get(key, []):
            rc = run_command(line, name, cfg, e, log)
            if rc != 0:
                say("%s %r failed with exit code %d" % (key, line, rc))
                return rc
        return 0

    def cleanup_runtime_dirs():
        for spec in cfg.get("RuntimeDirectory", []):
            for d in spec.split():
                subprocess.call(["rm", "-rf", os.path.join("/run", d)])

    while True:
        if stop["requested"]:
            save(state="inactive", main=None, supervisor=None)
            return 0
        now = time.time()
        starts = [t for t in starts if now - t < interval] + [now]
        if len(starts) > burst:
            say("Start request repeated too quickly.")
            save(state="failed", result="start-limit-hit", main=None, supervisor=None)
            return 1
        if run_list("ExecStartPre") != 0:
            save(state="failed", result="exit-code", main=None, supervisor=None)
            return 1
        if not cfg.get("ExecStart"):
            say("Service has no ExecStart= setting.")
            save(state="failed", result="resources", main=None, supervisor=None)
            return 1
        main_line = cfg["ExecStart"][0]
        try:
            proc, flags = popen_command(main_line, name, cfg, env, log)
        except (OSError, UnitError, KeyError) as e:
            say("Failed to execute %s: %s" % (main_line, e))
            save(state="failed", result="exit-code", main=None, supervisor=None)
            return 1
        say("Started %s (pid %d)." % (cfg.get("Description", name), proc.pid))
        main_pid = proc.pid
        if service_type == "oneshot":
            rc = proc.wait()
            for line in cfg["ExecStart"][1:]:
                if rc == 0:
                    rc = run_command(line, name, cfg, env, log)
            if rc != 0 and "-" not in flags:
                save(state="failed", result="exit-code", exit_status=rc, main=None, supervisor=None)
                return 1
            run_list("ExecStartPost")
            if cfg.get("RemainAfterExit", "no").lower() in ("yes", "true", "1", "on"):
                save(state="active", main=None)
                while not stop["requested"]:
                    time.sleep(0.1)
                run_list("ExecStop")
                run_list("ExecStopPost")
            save(state="inactive", main=None, supervisor=None)
            return 0
        if service_type == "forking":
            rc = proc.wait()
            if rc != 0:
                save(state="failed", result="exit-code", exit_status=rc, main=None, supervisor=None)
                return 1
            pidfile = cfg.get("PIDFile")
            main_pid = None
            for _ in range(100):
                try:
                    main_pid = int(open(pidfile).read().split()[0]) if pidfile else None
                    break
                except (OSError, ValueError, IndexError):
                    time.sleep(0.05)
            proc = None
        save(state="active", main=main_pid, since=time.strftime("%Y-%m-%d %H:%M:%S"))
        run_list("ExecStartPost", {"MAINPID": str(main_pid or "")})

        exit_code, exit_signal = None, None
        while True:
            if stop["requested"]:
                break
            if proc is not None:
                rc = proc.poll()
                if rc is not None:
                    if rc < 0:
                        exit_signal = -rc
                    else:
                        exit_code = rc
                    break
            elif not pid_alive(main_pid):
                exit_code = 0
                break
            time.sleep(0.1)

        if stop["requested"]:
            save(state="deactivating")
            if cfg.get("ExecStop"):
                run_list("ExecStop", {"MAINPID": str(main_pid or "")})
            if main_pid and pid_alive(main_pid):
                kill_group(main_pid, kill_sig)
                deadline = time.time() + stop_timeout
                while time.time() < deadline:
                    if proc is not None and proc.poll() is not None:
                        break
                    if proc is None and not pid_alive(main_pid):
                        break
                    time.sleep(0.05)
                if (proc is not None and proc.poll() is None) or (proc is None and pid_alive(main_pid)):
                    say("State 'stop-sigterm' timed out. Killing.")
                    kill_group(main_pid, signal.SIGKILL)
                    if proc is not None:
                        proc.wait()
            if main_pid:
                kill_group(main_pid, signal.SIGKILL)  # leftovers of the process group
            run_list("ExecStopPost")
            cleanup_runtime_dirs()
            say("Stopped %s." % cfg.get("Description", name))
            save(state="inactive", main=None, supervisor=None)
            return 0

        if exit_signal:
            say("Main process exited, code=killed, status=%d/%s"
                % (exit_signal, signal.Signals(exit_signal).name))
        else:
            say("Main process exited, code=exited, status=%d" % exit_code)
        if main_pid:
            kill_group(main_pid, signal.SIGTERM)
        clean = (exit_signal is None and exit_code == 0) or exit_signal in CLEAN_SIGNALS
        restart = (restart_mode == "always"
                   or (restart_mode == "on-failure" and not clean)
                   or (restart_mode == "on-abnormal" and exit_signal is not None
                       and exit_signal not in CLEAN_SIGNALS)
                   or (restart_mode == "on-abort" and exit_signal is not None
                       and exit_signal not in CLEAN_SIGNALS))
        run_list("ExecStopPost")
        if not restart:
            save(state="inactive" if clean else "failed",
                 result="success" if clean else ("signal" if exit_signal else "exit-code"),
                 exit_status=exit_code if exit_code is not None else exit_signal,
                 main=None, supervisor=None)
            cleanup_runtime_dirs()
            return 0
        save(state="activating", main=None, restarts=state["restarts"] + 1)
        say("Scheduled restart job, restart counter is at %d." % state["restarts"])
        deadline = time.time() + restart_sec
        while time.time() < deadline and not stop["requested"]:
            time.sleep(0.02)


# --------------------------------------------------------------------------
# command lines

def systemctl(unit_dir, args):
    sd = Systemd(unit_dir)
    opts = {"now": False, "quiet": False, "value": False, "props": [], "signal": "SIGTERM"}
    words = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("--now",):
            opts["now"] = True
        elif a in ("-q", "--quiet"):
            opts["quiet"] = True
        elif a == "--no-block":
            sd.no_block = True
        elif a == "--value":
            opts["value"] = True
        elif a in ("-p", "--property"):
            i += 1
            opts["props"].extend(args[i].split(","))
        elif a.startswith("--property="):
            opts["props"].extend(a.split("=", 1)[1].split(","))
        elif a in ("-s", "--signal"):
            i += 1
            opts["signal"] = args[i]
        elif a.startswith("--signal="):
            opts["signal"] = a.split("=", 1)[1]
        elif a.startswith("-"):
            pass  # --system, --no-pager, --no-ask-password, --full, --force, ...
        else:
            words.append(a)
        i += 1
    if not words:
        sys.stderr.write("jujusim systemctl: no command given\n")
        return 1
    verb, names = words[0], [normalize(n) for n in words[1:]]
    out = sys.stdout
    try:
        if verb == "daemon-reload":
            sd.daemon_reload()
            return 0
        if verb in ("list-units", "list-unit-files") or (verb == "status" and not names):
            for path in sorted(glob.glob(os.path.join(sd.loaded_dir, "*.json"))):
                n = os.path.basename(path)[:-5]
                out.write("%s %s\n" % (n, sd.run_state(n)["state"]))
            return 0
        if verb == "reset-failed" and not names:
            names = [os.path.basename(p)[:-5] for p in glob.glob(os.path.join(sd.run_dir, "*.json"))]
        if verb not in NAME_VERBS:
            sys.stderr.write("Unknown command verb %s.\n" % verb)
            return 1
        if not names and verb != "reset-failed":
            sys.stderr.write("Too few arguments.\n")
            return 1
        rc = 0
        for name in names:
            rc = max(rc, one_verb(sd, verb, name, opts, out))
        return rc
    except UnitError as e:
        sys.stderr.write(str(e) + "\n")
        return e.code


NAME_VERBS = ("start", "stop", "restart", "try-restart", "condrestart", "reload",
              "reload-or-restart", "try-reload-or-restart", "force-reload", "kill",
              "reset-failed", "is-active", "is-failed", "is-enabled", "enable", "disable",
              "mask", "unmask", "status", "show")


def one_verb(sd, verb, name, opts, out):
    if verb == "start":
        return sd.start(name)
    if verb == "stop":
        return sd.stop(name)
    if verb == "restart":
        return sd.restart(name)
    if verb in ("try-restart", "condrestart"):
        return sd.restart(name) if sd.run_state(name)["state"] == "active" else 0
    if verb == "reload":
        return sd.reload(name)
    if verb in ("reload-or-restart", "try-reload-or-restart", "force-reload"):
        unit = sd.load(name)
        active = sd.run_state(name)["state"] == "active"
        if unit and active and unit["config"].get("ExecReload"):
            return sd.reload(name)
        if active or verb == "reload-or-restart":
            return sd.restart(name)
        return 0
    if verb == "kill":
        sig = opts["signal"]
        return sd.kill(name, getattr(signal, sig if sig.startswith("SIG") else "SIG" + sig))
    if verb == "reset-failed":
        st = read_json(sd.run_state_path(name), None)
        if st and st.get("state") == "failed":
            st["state"] = "inactive"
            write_json(sd.run_state_path(name), st)
        return 0
    if verb == "is-active":
        state = sd.run_state(name)["state"] if sd.load(name, warn=False) else "inactive"
        if not opts["quiet"]:
            out.write(state + "\n")
        return 0 if state == "active" else 3
    if verb == "is-failed":
        state = sd.run_state(name)["state"]
        if not opts["quiet"]:
            out.write(state + "\n")
        return 0 if state == "failed" else 1
    if verb == "is-enabled":
        state = sd.is_enabled(sd.load(name, warn=False))
        if state == "not-found":
            sys.stderr.write("Failed to get unit file state for %s: No such file or directory\n"
                             % name)
            return 1
        if not opts["quiet"]:
            out.write(state + "\n")
        return 0 if state in ("enabled", "static", "alias", "indirect") else 1
    if verb == "enable":
        return enable(sd, name, opts)
    if verb == "disable":
        return disable(sd, name, opts)
    if verb == "mask":
        path = os.path.join("/etc/systemd/system", name)
        if os.path.exists(path) and os.path.realpath(path) != "/dev/null":
            raise UnitError("Failed to mask unit: File %s already exists." % path, 1)
        if not os.path.lexists(path):
            os.symlink("/dev/null", path)
            sys.stderr.write("Created symlink %s \u2192 /dev/null.\n" % path)
        return 0
    if verb == "unmask":
        path = os.path.join("/etc/systemd/system", name)
        if os.path.islink(path) and os.path.realpath(path) == "/dev/null":
            os.unlink(path)
            sys.stderr.write("Removed \"%s\".\n" % path)
        return 0
    if verb == "status":
        text, code = sd.status_text(name)
        out.write(text + "\n")
        return code
    if verb == "show":
        for key, value in sd.show(name, opts["props"]).items():
            out.write((value if opts["value"] else "%s=%s" % (key, value)) + "\n")
        return 0
    raise UnitError("Unknown command verb %s." % verb, 1)


def enable(sd, name, opts):
    unit = sd.load(name)
    if unit is None:
        raise UnitError("Failed to enable unit: Unit file %s does not exist." % name, 1)
    if unit["masked"]:
        raise UnitError("Failed to enable unit: Unit file %s is masked." % name, 1)
    cfg = unit["config"]
    if not cfg["WantedBy"]:
        sys.stderr.write("The unit files have no installation config (WantedBy=, RequiredBy=, "
                         "Also=,\nAlias= settings in the [Install] section, and DefaultInstance= "
                         "for template\nunits). This means they are not meant to be enabled "
                         "using systemctl.\n")
    for target in cfg["WantedBy"]:
        wants = os.path.join("/etc/systemd/system", target + ".wants")
        os.makedirs(wants, exist_ok=True)
        link = os.path.join(wants, name)
        if not os.path.lexists(link):
            os.symlink(unit["path"], link)
            sys.stderr.write("Created symlink %s \u2192 %s.\n" % (link, unit["path"]))
    if opts["now"]:
        return sd.start(name)
    return 0


def disable(sd, name, opts):
    for link in glob.glob(os.path.join("/etc/systemd/system", "*.wants", name)):
        os.unlink(link)
        sys.stderr.write("Removed \"%s\".\n" % link)
    if opts["now"]:
        return sd.stop(name)
    return 0


def service(unit_dir, args):
    if not args or args[0] in ("--help", "-h"):
        sys.stdout.write("Usage: service < option > | --status-all | [ service_name [ command | "
                         "--full-restart ] ]\n")
        return 0 if args else 1
    if args[0] == "--status-all":
        return systemctl(unit_dir, ["list-units"])
    if len(args) < 2:
        return systemctl(unit_dir, ["status", args[0]])
    name, action = args[0], args[1]
    if action == "--full-restart":
        action = "restart"
    return systemctl(unit_dir, [action, name])


def main(argv):
    unit_dir, mode, args = argv[1], argv[2], argv[3:]
    if mode == "systemctl":
        return systemctl(unit_dir, args)
    if mode == "service":
        return service(unit_dir, args)
    if mode == "supervise":
        return supervise(unit_dir, args[0], args[1])
    sys.stderr.write("unknown mode %s\n" % mode)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
