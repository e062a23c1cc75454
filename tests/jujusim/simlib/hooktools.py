"""The hook tools: one multi-call program.

Each unit has /var/lib/juju/tools/unit-<app>-<n>/ on its PATH (like Juju); every
tool there is a symlink to a small shell shim that runs

    python -I hooktools.py <model dir> <unit> <tool name> ARGS...

Argument parsing follows Juju's (gnuflag): flags and positional arguments may be
interspersed, `--flag=value`, `--flag value`, `-r value`; `--format` takes smart
(the default), json or yaml; `-o/--output FILE` writes to a file. Errors print
`ERROR <message>` on stderr and exit 1 (2 for usage errors), like Juju.

Every tool needs the hook context of a running hook or action (JUJU_CONTEXT_ID).
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from simlib import ops  # noqa: E402
from simlib.charmmeta import effective_config  # noqa: E402
from simlib.model import Model, SimError, juju_major, now, unit_app  # noqa: E402

VALID_STATUSES = ("maintenance", "blocked", "waiting", "active")
ACTION_KEY_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
RESERVED_ACTION_KEYS = ("stdout", "stdout-encoding", "stderr", "stderr-encoding")


MODEL_DIR = None


def _yaml():
    """PyYAML, imported only when needed (the tools run with python -S for a fast start)."""
    try:
        import yaml
    except ImportError:
        try:
            extra = open(os.path.join(MODEL_DIR, "pylib.path")).read().split()
        except (OSError, TypeError):
            extra = []
        sys.path.extend(extra)
        import yaml
    return yaml


class ToolError(Exception):
    code = 1


class UsageError(ToolError):
    code = 2


# --------------------------------------------------------------------------
# argument parsing and output

COMMON_FLAGS = {"--format": ("format", True), "-o": ("output", True), "--output": ("output", True)}


def parse(args, flags):
    table = dict(COMMON_FLAGS)
    table.update(flags)
    opts, pos = {}, []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            pos.extend(args[i + 1:])
            break
        if arg.startswith("-") and arg != "-" and not re.match(r"^-\d", arg):
            name, eq, value = arg.partition("=")
            if name not in table:
                raise UsageError("flag provided but not defined: %s" % name)
            key, takes_value = table[name]
            if takes_value:
                if not eq:
                    i += 1
                    if i >= len(args):
                        raise UsageError("flag needs an argument: %s" % name)
                    value = args[i]
                opts[key] = value
            else:
                opts[key] = (value.lower() not in ("false", "0")) if eq else True
        else:
            pos.append(arg)
        i += 1
    return opts, pos


def _smart(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (list, tuple)):
        return "\n".join(_smart(v) for v in value)
    if isinstance(value, dict):
        yaml = _yaml()
        return yaml.safe_dump(value, default_flow_style=False).rstrip("\n")
    return str(value)


def emit(h, value, opts):
    fmt = opts.get("format") or "smart"
    if fmt == "json":
        text = json.dumps(value) + "\n"
    elif fmt == "yaml":
        yaml = _yaml()
        text = "" if value is None else yaml.safe_dump(value, default_flow_style=False)
        if text.endswith("\n...\n"):   # a scalar: Juju prints no document end marker
            text = text[:-4]
    elif fmt == "smart":
        text = _smart(value)
        text = text + "\n" if text else ""
    else:
        raise UsageError('invalid value "%s" for flag --format: unknown format' % fmt)
    if opts.get("output"):
        with open(opts["output"], "w") as f:
            f.write(text)
    else:
        h.out.append(text)


# --------------------------------------------------------------------------
# the hook context

class Hook:
    def __init__(self, model, unit, st, tool, env, stdin=None):
        self.model = model
        self.unit = unit
        self.app = unit_app(unit)
        self.st = st
        self.tool = tool
        self.env = env
        self.stdin = stdin
        self.out = []
        cid = env.get("JUJU_CONTEXT_ID")
        if not cid:
            raise ToolError("JUJU_CONTEXT_ID not set")
        ctx = st["contexts"].get(cid)
        if ctx is None or ctx["unit"] != unit:
            raise ToolError('bad context id "%s": no hook or action is running with it' % cid)
        self.cid = cid
        self.ctx = ctx

    @property
    def u(self):
        return self.st["units"][self.unit]

    @property
    def a(self):
        return self.st["applications"][self.app]

    @property
    def is_leader(self):
        return self.a["leader"] == self.unit

    def relation(self, opts):
        rid = opts.get("relation") or self.env.get("JUJU_RELATION_ID")
        if not rid:
            raise ToolError("no relation id specified")
        try:
            rel = ops.find_relation(self.st, self.unit, rid)
        except SimError as e:
            raise UsageError(str(e))
        if not ops.unit_takes_part(self.st, rel, self.unit):
            raise UsageError('invalid value "%s" for option -r: relation not found' % rid)
        return rel

    def action(self):
        aid = self.ctx.get("action_id")
        if not aid or self.ctx["kind"] != "action":
            raise ToolError("%s can only be used in an action" % self.tool)
        return self.st["actions"][aid]


def _kv_args(pos, what):
    out = {}
    for arg in pos:
        if "=" not in arg:
            raise UsageError('expected "key=value", got "%s"' % arg)
        key, value = arg.split("=", 1)
        if not key:
            raise UsageError('expected "key=value", got "%s"' % arg)
        out[key] = value
    return out


# --------------------------------------------------------------------------
# tools

def t_config_get(h, args):
    opts, pos = parse(args, {"--all": ("all", False), "-a": ("all", False)})
    if len(pos) > 1:
        raise UsageError("unrecognized args: %s" % pos[1:])
    eff = effective_config(h.a["charm"]["options"], h.a["config"])
    if pos:
        emit(h, eff.get(pos[0]), opts)
    elif opts.get("all"):
        emit(h, eff, opts)
    else:
        emit(h, {k: v for k, v in eff.items() if v is not None}, opts)


def t_relation_ids(h, args):
    opts, pos = parse(args, {})
    name = pos[0] if pos else h.env.get("JUJU_RELATION")
    if not name:
        raise UsageError("no endpoint name specified")
    out = []
    for rel in sorted(ops.relations_of_app(h.st, h.app), key=lambda r: r["id"]):
        side = ops.rel_side(rel, h.app)
        if side["endpoint"] == name and ops.relation_visible(rel, h.unit, h.st):
            out.append(ops.rid_for(rel, h.app))
    emit(h, out, opts)


def t_relation_list(h, args):
    opts, pos = parse(args, {"-r": ("relation", True), "--relation": ("relation", True),
                             "--app": ("app", False)})
    if pos:
        raise UsageError("unrecognized args: %s" % pos)
    rel = h.relation(opts)
    if opts.get("app"):
        emit(h, ops.rel_remote_app(rel, h.app), opts)
        return
    emit(h, list(rel["scope"].get(h.unit, [])), opts)


def _pending(cur, changes):
    return ops._apply(cur, changes)


def t_relation_get(h, args):
    opts, pos = parse(args, {"-r": ("relation", True), "--relation": ("relation", True),
                             "--app": ("app", False)})
    rel = h.relation(opts)
    rid = str(rel["id"])
    key = pos[0] if pos else "-"
    target = pos[1] if len(pos) > 1 else None
    if len(pos) > 2:
        raise UsageError("unrecognized args: %s" % pos[2:])
    if opts.get("app"):
        target = target or h.env.get("JUJU_REMOTE_APP")
        if not target:
            raise UsageError("no application specified")
        if target == h.app:
            # a unit may read its own application's data only as the leader, except on
            # a peer relation, where every unit reads it (only the leader writes)
            if not h.is_leader and not rel["peer"]:
                raise ToolError("permission denied")
            data = _pending(rel["app_settings"].get(h.app, {}),
                            h.ctx["rel_app"].get(rid, {}))
        elif target == ops.rel_remote_app(rel, h.app):
            data = rel["app_settings"].get(target, {})
        else:
            raise ToolError('application "%s" is not in relation %s' % (target, ops.rid_for(rel, h.app)))
    else:
        target = target or h.env.get("JUJU_REMOTE_UNIT")
        if not target:
            raise UsageError("no unit id specified")
        if target == h.unit:
            data = _pending(rel["settings"].get(h.unit, {}), h.ctx["rel_unit"].get(rid, {}))
        elif target in rel["settings"] and (target not in h.st["units"] or ops.can_pair(
                h.st, rel, h.unit, target)):
            # container-scoped relations: only the co-located units see each other
            data = rel["settings"][target]
        else:
            raise ToolError('cannot read settings for unit "%s" in relation "%s": unit "%s": '
                            'settings not found' % (target, ops.rid_for(rel, h.app), target))
    emit(h, dict(data) if key == "-" else data.get(key), opts)


RELATION_SET_HELP = """Usage: relation-set [options] key=value [key=value ...]

Summary:
set relation settings

Options:
--app  (= false)
    pick whether you are setting "application" settings or "unit" settings
--file  (= )
    file containing key-value pairs
--format (= "")
    deprecated format flag
-r, --relation  (= %s)
    specify a relation by id

Details:
"relation-set" writes the local unit's settings for some relation. If no
relation is specified then the current relation is used. The setting values
are not inspected and are stored as strings. Setting an empty string causes
the setting to be removed. Duplicate settings are not allowed.

If --file is given, it names a YAML file with a map of keys to values
(or "-" for standard input); key=value arguments override it.
"""


def t_relation_set(h, args):
    opts, pos = parse(args, {"-r": ("relation", True), "--relation": ("relation", True),
                             "--app": ("app", False), "--file": ("file", True)})
    rel = h.relation(opts)
    rid = str(rel["id"])
    changes = {}
    if opts.get("file"):
        yaml = _yaml()
        path = opts["file"]
        try:
            raw = (h.stdin or sys.stdin).read() if path == "-" else open(path).read()
        except OSError as e:
            raise ToolError("cannot read settings file: %s" % e)
        try:
            data = yaml.safe_load(raw)
        except yaml.YAMLError as e:
            raise ToolError("cannot parse settings file: %s" % e)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ToolError("expected YAML map of settings, got %s" % type(data).__name__)
        for key, value in data.items():
            if isinstance(value, (dict, list)):
                raise ToolError('value of "%s" is not a string' % key)
            if value is None:
                changes[str(key)] = None
            elif isinstance(value, bool):
                changes[str(key)] = "true" if value else "false"
            else:
                changes[str(key)] = str(value)
    changes.update(_kv_args(pos, "setting"))
    if not changes and not opts.get("file"):
        raise UsageError("no settings specified")
    bucket = "rel_app" if opts.get("app") else "rel_unit"
    if opts.get("app") and not h.is_leader:
        raise ToolError("cannot write relation settings: permission denied (unit is not the leader)")
    h.ctx[bucket].setdefault(rid, {}).update(changes)


def _address(h):
    """The machine's own (bind) address."""
    return h.u["address"]


def _ingress(h):
    """The address remote units reach this unit at: the bind address, or with an
    ingress offset one that is no address of the machine (like a floating IP)."""
    return h.u.get("ingress") or h.u["address"]


def t_unit_get(h, args):
    opts, pos = parse(args, {})
    if len(pos) != 1:
        raise UsageError("expected a single setting: private-address or public-address")
    if pos[0] not in ("private-address", "public-address"):
        raise ToolError('unknown setting "%s"' % pos[0])
    emit(h, _address(h) if pos[0] == "private-address" else _ingress(h), opts)


def _network_info(h):
    addr = _address(h)
    ingress = _ingress(h)
    cidr = h.st["subnet"] + ".0/24"
    return {
        "bind-addresses": [{
            "mac-address": "", "interface-name": "lo",
            "macaddress": "", "interfacename": "lo",
            "addresses": [{"hostname": "", "address": addr, "value": addr, "cidr": cidr}],
        }],
        "egress-subnets": [ingress + "/32"],
        "ingress-addresses": [ingress],
    }


def t_network_get(h, args):
    flags = {"-r": ("relation", True), "--relation": ("relation", True),
             "--ingress-address": ("ingress-address", False),
             "--bind-address": ("bind-address", False),
             "--egress-subnets": ("egress-subnets", False),
             "--primary-address": ("primary-address", False)}
    opts, pos = parse(args, flags)
    if len(pos) != 1:
        raise UsageError("no arguments specified" if not pos else "too many arguments")
    binding = pos[0]
    charm = h.a["charm"]
    if opts.get("relation"):
        h.relation(opts)
    if binding not in charm["endpoints"] and binding not in charm["extra_bindings"]:
        raise ToolError('no network config found for binding "%s"' % binding)
    info = _network_info(h)
    addr = _address(h)
    picked = {}
    for key, value in (("primary-address", addr), ("bind-address", addr),
                       ("ingress-address", _ingress(h)),
                       ("egress-subnets", info["egress-subnets"])):
        if opts.get(key):
            picked[key] = value
    if len(picked) == 1:
        emit(h, list(picked.values())[0], opts)
    elif picked:
        emit(h, picked, opts)
    else:
        emit(h, info, opts)


def t_status_set(h, args):
    opts, pos = parse(args, {"--application": ("application", False)})
    if not pos:
        raise UsageError("invalid args, require <status> [message] [data]")
    status = pos[0]
    if status not in VALID_STATUSES:
        raise UsageError('invalid status "%s", expected one of [%s]' % (status, " ".join(VALID_STATUSES)))
    message = pos[1] if len(pos) > 1 else ""
    entry = {"status": status, "message": message, "since": now()}
    if opts.get("application"):
        if not h.is_leader:
            raise ToolError("this unit is not the leader")
        h.a["status"] = entry
    else:
        h.u["workload"] = entry


def t_status_get(h, args):
    opts, pos = parse(args, {"--include-data": ("include-data", False),
                             "--application": ("application", False)})

    def view(entry):
        return {"status": entry["status"], "message": entry["message"], "status-data": {}}

    if opts.get("application"):
        if not h.is_leader:
            raise ToolError("finding application status: this unit is not the leader")
        entry = h.a["status"] or {"status": "unknown", "message": ""}
        out = view(entry)
        out["units"] = {u: view(h.st["units"][u]["workload"]) for u in h.a["units"]
                        if u in h.st["units"]}
        emit(h, {"application-status": out}, opts)
        return
    entry = view(h.u["workload"])
    if pos:
        emit(h, entry.get(pos[0]), opts)
    elif opts.get("include-data"):
        emit(h, entry, opts)
    else:
        emit(h, entry["status"], opts)


def t_juju_log(h, args):
    level = "INFO"
    msg = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-l", "--log-level") and i + 1 < len(args) and not msg:
            level = args[i + 1].upper()
            i += 2
            continue
        if arg.startswith("--log-level=") and not msg:
            level = arg.split("=", 1)[1].upper()
        elif arg == "--debug" and not msg:
            level = "DEBUG"
        elif arg.startswith("--format") and not msg:
            if arg == "--format":
                i += 1
        elif arg == "--" and not msg:
            msg.extend(args[i + 1:])
            break
        else:
            msg.append(arg)
        i += 1
    if not msg:
        raise UsageError("no message specified")
    text = " ".join(msg)
    prefix = ""
    if h.env.get("JUJU_RELATION_ID"):
        prefix = h.env["JUJU_RELATION_ID"] + ": "
    for line in (text.splitlines() or [""]):
        h.model.log(h.unit, "juju-log %s %s%s" % (level, prefix, line))


def t_is_leader(h, args):
    opts, pos = parse(args, {})
    emit(h, h.is_leader, opts)


def t_leader_get(h, args):
    opts, pos = parse(args, {})
    key = pos[0] if pos else "-"
    data = h.a["leader_data"]
    emit(h, dict(data) if key == "-" else data.get(key), opts)


def t_leader_set(h, args):
    opts, pos = parse(args, {"--file": ("file", True)})
    if not h.is_leader:
        raise ToolError("cannot write leadership settings: cannot write settings: not the leader")
    changes = _kv_args(pos, "setting")
    cur = h.a["leader_data"]
    new = ops._apply(cur, changes)
    if new != cur:
        h.a["leader_data"] = new
        ops.leader_settings_changed(h.st, h.app, h.unit)


def _dig(data, dotted):
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def t_action_get(h, args):
    opts, pos = parse(args, {})
    act = h.action()
    if len(pos) > 1:
        raise UsageError("too many arguments")
    emit(h, _dig(act["params"], pos[0]) if pos else act["params"], opts)


def t_action_set(h, args):
    opts, pos = parse(args, {})
    act = h.action()
    pairs = _kv_args(pos, "result")
    if not pairs:
        raise UsageError("no key=value pairs specified")
    for key in pairs:
        parts = key.split(".")
        for part in parts:
            if not ACTION_KEY_RE.match(part):
                raise ToolError('key "%s" must start and end with lowercase alphanumeric, and '
                                'contain only lowercase alphanumeric and hyphens' % key)
        if parts[0] in RESERVED_ACTION_KEYS:
            raise ToolError('cannot set reserved action key "%s"' % key)
    for key, value in pairs.items():
        node = act["results"]
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value


def t_action_fail(h, args):
    opts, pos = parse(args, {})
    act = h.action()
    act["failed"] = True
    act["message"] = " ".join(pos) if pos else "action failed without reason given"


def t_action_log(h, args):
    opts, pos = parse(args, {})
    act = h.action()
    if not pos:
        raise UsageError("no message specified")
    text = " ".join(pos)
    act.setdefault("log", []).append({"timestamp": now(), "message": text})
    h.model.log(h.unit, "action-log %s" % text)


def _port_spec(arg):
    arg = arg.lower()
    if arg == "icmp":
        return "icmp"
    port, _, proto = arg.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp"):
        raise UsageError('invalid protocol "%s", expected "tcp", "udp", or "icmp"' % proto)
    ends = port.split("-")
    try:
        nums = [int(x) for x in ends]
    except ValueError:
        raise UsageError('invalid port "%s"' % port)
    if len(nums) > 2 or any(n < 1 or n > 65535 for n in nums) or (len(nums) == 2 and nums[0] > nums[1]):
        raise UsageError('invalid port range "%s"' % port)
    return "%s/%s" % ("-".join(str(n) for n in nums), proto)


def _port_tool(op):
    def tool(h, args):
        opts, pos = parse(args, {"--endpoints": ("endpoints", True)})
        if len(pos) != 1:
            raise UsageError("no port or range specified" if not pos else "too many arguments")
        h.ctx["ports"].append([op, _port_spec(pos[0])])
    return tool


def t_opened_ports(h, args):
    opts, pos = parse(args, {"--endpoints": ("endpoints", False)})
    emit(h, list(h.u["ports"]), opts)


def t_application_version_set(h, args):
    opts, pos = parse(args, {})
    if len(pos) != 1:
        raise UsageError("no version specified" if not pos else "too many arguments")
    h.a["version"] = pos[0]


def t_juju_reboot(h, args):
    raise ToolError("juju-reboot is not supported by jujusim: the unit's machine is the test host")


def t_goal_state(h, args):
    opts, pos = parse(args, {})
    units = {}
    for unit in h.a["units"]:
        u = h.st["units"].get(unit)
        if u:
            units[unit] = {"status": "dying" if u["dying"] else "active", "since": u["created"]}
    relations = {}
    for rel in ops.relations_of_unit(h.st, h.unit):
        if rel["dying"]:
            continue
        ep = ops.rel_side(rel, h.app)["endpoint"]
        entry = relations.setdefault(ep, {})
        remote = ops.rel_remote_app(rel, h.app)
        entry[remote] = {"status": "joined", "since": rel["created"]}
        for unit in h.st["applications"][remote]["units"]:
            if unit != h.unit and unit in h.st["units"] and ops.can_pair(h.st, rel, h.unit, unit):
                entry[unit] = {"status": "active", "since": h.st["units"][unit]["created"]}
    emit(h, {"units": units, "relations": relations}, opts)


def t_resource_get(h, args):
    opts, pos = parse(args, {})
    raise ToolError('could not download resource: resource "%s" not found' % (pos[0] if pos else ""))


def t_storage_list(h, args):
    opts, pos = parse(args, {})
    emit(h, [], opts)


def t_storage_get(h, args):
    raise ToolError("no storage instance specified (jujusim has no storage)")


def t_credential_get(h, args):
    raise ToolError("cannot access cloud credentials: application is not trusted (jujusim)")


def t_add_metric(h, args):
    raise ToolError("metrics are not supported by jujusim")


def t_state_get(h, args):
    opts, pos = parse(args, {})
    kv = h.u.setdefault("kv", {})
    emit(h, kv.get(pos[0]) if pos else dict(kv), opts)


def t_state_set(h, args):
    opts, pos = parse(args, {"--file": ("file", True)})
    kv = h.u.setdefault("kv", {})
    kv.update(_kv_args(pos, "value"))


def t_state_delete(h, args):
    opts, pos = parse(args, {})
    kv = h.u.setdefault("kv", {})
    for key in pos:
        kv.pop(key, None)


# --------------------------------------------------------------------------
# secrets (Juju 3 only: a 2.9 model's units have none of these tools)

SECRET_KEY_RE = re.compile(r"^[a-z](?:-?[a-z0-9]){2,}$")
SECRET_TOOLS = ("secret-add", "secret-get", "secret-set", "secret-grant", "secret-revoke",
                "secret-remove", "secret-ids", "secret-info-get")


def _secret_view(h):
    return ops.secrets_view(h.st, h.ctx["secret_ops"])


def _secret_owned(h, secret):
    owner = secret["owner"]
    return (owner["kind"] == "application" and owner["name"] == h.app) or (
        owner["kind"] == "unit" and owner["name"] == h.unit)


def _secret_can_manage(h, secret):
    if secret["owner"]["kind"] == "application":
        return secret["owner"]["name"] == h.app and h.is_leader
    return secret["owner"]["name"] == h.unit


def _secret_granted(h, secret):
    for g in secret.get("grants", []):
        if g["rid"] in h.st["relations"] and g["app"] == h.app and g.get("unit") in (None, h.unit):
            return True
    return False


def _secret_find(h, view, ref=None, label=None):
    """The secret named by URI or label, as this unit may address it."""
    if ref:
        try:
            sid = ops.parse_secret_ref(ref)
        except SimError as e:
            raise UsageError(str(e))
        secret = view.get(sid)
        if secret is None:
            raise ToolError('secret "%s" not found' % sid)
        return secret
    for secret in view.values():
        if _secret_owned(h, secret) and secret.get("label") == label:
            return secret
    for secret in view.values():
        if (secret["consumers"].get(h.unit) or {}).get("label") == label:
            return secret
    raise ToolError('secret "%s" not found' % label)


def _secret_content(args, opts):
    """key=value, key#base64=value, key#file=path, and --file YAML."""
    import base64
    content = {}
    if opts.get("file"):
        yaml = _yaml()
        try:
            data = yaml.safe_load(open(opts["file"]).read()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ToolError("cannot read secret content file: %s" % e)
        if not isinstance(data, dict):
            raise ToolError("secret content file must hold a YAML map")
        args = ["%s=%s" % (k, v) for k, v in data.items()] + list(args)
    for arg in args:
        if "=" not in arg:
            raise UsageError('expected "key=value", got "%s"' % arg)
        key, value = arg.split("=", 1)
        if key.endswith("#base64"):
            key = key[:-7]
            try:
                value = base64.b64decode(value, validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                raise ToolError('invalid base64 value for key "%s"' % key)
        elif key.endswith("#file"):
            key = key[:-5]
            try:
                value = open(value).read()
            except OSError as e:
                raise ToolError("cannot read %s: %s" % (value, e))
        if not SECRET_KEY_RE.match(key):
            raise ToolError('key "%s" not valid' % key)
        content[key] = value
    return content


SECRET_META_FLAGS = {"--label": ("label", True), "--description": ("description", True),
                     "--expire": ("expire", True), "--rotate": ("rotate", True),
                     "--file": ("file", True)}
ROTATE_POLICIES = ("never", "hourly", "daily", "weekly", "monthly", "quarterly", "yearly")


def _secret_meta(opts):
    if opts.get("rotate") and opts["rotate"] not in ROTATE_POLICIES:
        raise UsageError('rotate policy "%s" not valid' % opts["rotate"])
    return {k: opts.get(k) for k in ("label", "description", "expire", "rotate")}


def _label_taken(h, view, label, but=None):
    return label and any(_secret_owned(h, s) and s.get("label") == label and s["id"] != but
                         for s in view.values())


def t_secret_add(h, args):
    flags = dict(SECRET_META_FLAGS)
    flags["--owner"] = ("owner", True)
    opts, pos = parse(args, flags)
    if not pos and not opts.get("file"):
        raise UsageError("missing secret value or filename")
    owner = opts.get("owner") or "application"
    if owner not in ("application", "unit"):
        raise UsageError('secret owner "%s" not valid' % owner)
    content = _secret_content(pos, opts)
    if not content:
        raise ToolError("empty secret value not valid")
    if owner == "application" and not h.is_leader:
        raise ToolError("permission denied")   # only the leader manages application secrets
    view = _secret_view(h)
    if _label_taken(h, view, opts.get("label")):
        raise ToolError('secret with label "%s" already exists' % opts["label"])
    sid = ops.new_secret_id()
    op = {"op": "add", "id": sid, "content": content,
          "owner": {"kind": owner, "name": h.app if owner == "application" else h.unit}}
    op.update(_secret_meta(opts))
    h.ctx["secret_ops"].append(op)
    emit(h, ops.secret_uri(sid), {})


def t_secret_get(h, args):
    import base64
    opts, pos = parse(args, {"--label": ("label", True), "--peek": ("peek", False),
                             "--refresh": ("refresh", False)})
    opts.setdefault("format", "yaml")
    if not pos and not opts.get("label"):
        raise UsageError("require either a secret URI or label")
    if len(pos) > 2:
        raise UsageError("unrecognized args: %s" % pos[2:])
    ref = pos[0] if pos else None
    key = pos[1] if len(pos) > 1 else None
    view = _secret_view(h)
    secret = _secret_find(h, view, ref, None if ref else opts["label"])
    latest = secret["revision"]
    if _secret_owned(h, secret):
        revision = latest
    else:
        if not _secret_granted(h, secret):
            raise ToolError("permission denied")
        tracked = (secret["consumers"].get(h.unit) or {}).get("revision")
        revision = latest if (tracked is None or opts.get("peek") or opts.get("refresh")) \
            else tracked
        if tracked is None or opts.get("refresh") or (ref and opts.get("label")):
            h.ctx["secret_ops"].append({
                "op": "track", "id": secret["id"], "unit": h.unit,
                "revision": revision if not opts.get("peek") else (tracked or latest),
                "label": opts.get("label") if ref else None})
    content = secret["contents"].get(str(revision))
    if content is None:
        raise ToolError('secret "%s" revision %d not found' % (secret["id"], revision))
    if key:
        want_b64 = key.endswith("#base64")
        name = key[:-7] if want_b64 else key
        if name not in content:
            raise ToolError('secret key "%s" not found' % name)
        value = content[name]
        emit(h, base64.b64encode(value.encode()).decode() if want_b64 else value, opts)
    else:
        emit(h, dict(content), opts)


def t_secret_set(h, args):
    opts, pos = parse(args, dict(SECRET_META_FLAGS))
    if not pos:
        raise UsageError("missing secret URI")
    view = _secret_view(h)
    secret = _secret_find(h, view, pos[0])
    if not _secret_can_manage(h, secret):
        raise ToolError("permission denied")
    content = _secret_content(pos[1:], opts)
    if _label_taken(h, view, opts.get("label"), but=secret["id"]):
        raise ToolError('secret with label "%s" already exists' % opts["label"])
    op = {"op": "set", "id": secret["id"], "content": content or None}
    op.update(_secret_meta(opts))
    h.ctx["secret_ops"].append(op)


def _grant_target(h, opts):
    rid = opts.get("relation") or h.env.get("JUJU_RELATION_ID")
    if not rid:
        raise UsageError("no relation id specified")
    rel = h.relation({"relation": rid})
    app = ops.rel_remote_app(rel, h.app)
    unit = opts.get("unit")
    if unit and unit_app(unit) != app:
        raise UsageError('cannot specify unit "%s" in relation to application "%s"' % (unit, app))
    return str(rel["id"]), app, unit


def t_secret_grant(h, args):
    opts, pos = parse(args, {"-r": ("relation", True), "--relation": ("relation", True),
                             "--unit": ("unit", True)})
    if len(pos) != 1:
        raise UsageError("missing secret URI" if not pos else "unrecognized args: %s" % pos[1:])
    rid, app, unit = _grant_target(h, opts)
    secret = _secret_find(h, _secret_view(h), pos[0])
    if not _secret_can_manage(h, secret):
        raise ToolError("permission denied")
    h.ctx["secret_ops"].append({"op": "grant", "id": secret["id"], "rid": rid, "app": app,
                                "unit": unit})


def t_secret_revoke(h, args):
    opts, pos = parse(args, {"-r": ("relation", True), "--relation": ("relation", True),
                             "--unit": ("unit", True), "--app": ("app", True),
                             "--application": ("app", True)})
    if len(pos) != 1:
        raise UsageError("missing secret URI" if not pos else "unrecognized args: %s" % pos[1:])
    secret = _secret_find(h, _secret_view(h), pos[0])
    if not _secret_can_manage(h, secret):
        raise ToolError("permission denied")
    op = {"op": "revoke", "id": secret["id"], "rid": None, "app": opts.get("app"),
          "unit": opts.get("unit")}
    if opts.get("relation"):
        op["rid"], op["app"], op["unit"] = _grant_target(h, opts)
    h.ctx["secret_ops"].append(op)


def t_secret_remove(h, args):
    opts, pos = parse(args, {"--revision": ("revision", True)})
    if len(pos) != 1:
        raise UsageError("missing secret URI" if not pos else "unrecognized args: %s" % pos[1:])
    secret = _secret_find(h, _secret_view(h), pos[0])
    if not _secret_can_manage(h, secret):
        raise ToolError("permission denied")
    rev = opts.get("revision")
    if rev is not None:
        try:
            rev = int(rev)
        except ValueError:
            raise UsageError('revision "%s" not valid' % rev)
        if str(rev) not in secret["contents"]:
            raise ToolError('secret "%s" revision %d not found' % (secret["id"], rev))
    h.ctx["secret_ops"].append({"op": "remove", "id": secret["id"], "revision": rev})


def t_secret_ids(h, args):
    opts, pos = parse(args, {})
    opts.setdefault("format", "yaml")
    view = _secret_view(h)
    emit(h, sorted(ops.secret_uri(s["id"]) for s in view.values() if _secret_owned(h, s)), opts)


def t_secret_info_get(h, args):
    opts, pos = parse(args, {"--label": ("label", True)})
    opts.setdefault("format", "yaml")
    if not pos and not opts.get("label"):
        raise UsageError("require either a secret URI or label")
    if pos and opts.get("label"):
        raise UsageError("specify either a secret URI or label but not both")
    view = _secret_view(h)
    mine = {sid: s for sid, s in view.items() if _secret_owned(h, s)}
    secret = _secret_find(h, mine, pos[0] if pos else None, opts.get("label"))
    info = {"revision": secret["revision"], "label": secret.get("label") or "",
            "owner": secret["owner"]["kind"]}
    for key, name in (("description", "description"), ("rotate", "rotation"),
                      ("expire", "expiry")):
        if secret.get(key):
            info[name] = secret[key]
    access = [{"target": "application-" + g["app"] if not g.get("unit")
               else "unit-" + g["unit"].replace("/", "-"),
               "scope": "relation-%s" % g["rid"], "role": "view"}
              for g in secret.get("grants", [])]
    if access:
        info["access"] = access
    emit(h, {secret["id"]: info}, opts)


TOOLS = {
    "config-get": t_config_get,
    "relation-ids": t_relation_ids,
    "relation-list": t_relation_list,
    "relation-get": t_relation_get,
    "relation-set": t_relation_set,
    "unit-get": t_unit_get,
    "network-get": t_network_get,
    "status-set": t_status_set,
    "status-get": t_status_get,
    "juju-log": t_juju_log,
    "is-leader": t_is_leader,
    "leader-get": t_leader_get,
    "leader-set": t_leader_set,
    "action-get": t_action_get,
    "action-set": t_action_set,
    "action-fail": t_action_fail,
    "action-log": t_action_log,
    "open-port": _port_tool("open"),
    "close-port": _port_tool("close"),
    "opened-ports": t_opened_ports,
    "application-version-set": t_application_version_set,
    "juju-reboot": t_juju_reboot,
    "goal-state": t_goal_state,
    "resource-get": t_resource_get,
    "storage-list": t_storage_list,
    "storage-get": t_storage_get,
    "credential-get": t_credential_get,
    "add-metric": t_add_metric,
    "state-get": t_state_get,
    "state-set": t_state_set,
    "state-delete": t_state_delete,
    "secret-add": t_secret_add,
    "secret-get": t_secret_get,
    "secret-set": t_secret_set,
    "secret-grant": t_secret_grant,
    "secret-revoke": t_secret_revoke,
    "secret-remove": t_secret_remove,
    "secret-ids": t_secret_ids,
    "secret-info-get": t_secret_info_get,
}


def tools_for(st):
    """The hook tools a unit of this model has: Juju 2.9 agents have no secret tools."""
    if juju_major(st) >= 3:
        return list(TOOLS)
    return [t for t in TOOLS if t not in SECRET_TOOLS]

READ_ONLY = {"config-get", "relation-ids", "relation-list", "relation-get", "unit-get",
             "network-get", "status-get", "is-leader", "leader-get", "action-get",
             "opened-ports", "goal-state", "storage-list", "state-get", "juju-log"}


def usage(tool, env):
    if tool == "relation-set":
        return RELATION_SET_HELP % env.get("JUJU_RELATION_ID", "")
    return "Usage: %s [options] ...\n\n(jujusim hook tool; see Juju's documentation)\n" % tool


def run_tool(model_dir, unit, tool, args, env, stdin=None):
    """Runs one hook tool; returns (exit code, stdout text, stderr text)."""
    global MODEL_DIR
    MODEL_DIR = model_dir
    fn = TOOLS.get(tool)
    if fn is None:
        return 2, "", "ERROR unknown hook tool %s\n" % tool
    if "--help" in args or "-h" in args:
        return 0, usage(tool, env), ""
    model = Model(model_dir)
    h = None
    try:
        if tool in SECRET_TOOLS and juju_major(model.read()) < 3:
            # a 2.9 agent has no such tool: bash would say "command not found"
            return 127, "", "%s: command not found\n" % tool
        if tool in READ_ONLY:
            h = Hook(model, unit, model.read(), tool, env, stdin)
            fn(h, args)
        else:
            with model.locked() as st:
                h = Hook(model, unit, st, tool, env, stdin)
                fn(h, args)
    except ToolError as e:
        return e.code, "", "ERROR %s\n" % e
    except SimError as e:
        return 1, "", "ERROR %s\n" % e
    return 0, "".join(h.out), ""


def main(argv):
    if len(argv) < 4:
        sys.stderr.write("usage: hooktools.py MODEL UNIT TOOL [ARGS]\n")
        return 2
    rc, out, err = run_tool(argv[1], argv[2], argv[3], argv[4:], os.environ)
    try:
        sys.stdout.write(out)
        sys.stdout.flush()
    except BrokenPipeError:
        return 1
    sys.stderr.write(err)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
