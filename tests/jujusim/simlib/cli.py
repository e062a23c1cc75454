"""The `jujusim` command line: Juju's verbs against a model directory."""

import argparse
import glob
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid

import yaml

from . import controller, ops
from .charmmeta import check_option_value, load_charm, parse_option, standin_dir
from .model import (DEFAULT_PRIVATE_PATHS, JUJU_VERSION, SERIES_VERSIONS, Model, SimError,
                    agent_tag, copy_charm, now, unit_app)

STATUS_PRIORITY = ["error", "blocked", "maintenance", "waiting", "active", "unknown"]


def out_json(data):
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


# --------------------------------------------------------------------------
# model creation

def init_model(model, subnet="127.0.1", parallel=1, hook_timeout=600, private_paths=None,
               juju_version=JUJU_VERSION, ingress_offset=0):
    if not re.match(r"^127\.\d{1,3}\.\d{1,3}$", subnet):
        raise SimError('--subnet must look like "127.0.1" (a loopback /24), got "%s"' % subnet)
    if not re.match(r"^[23]\.\d+(\.\d+)?$", juju_version or ""):
        raise SimError('--juju-version must be a Juju 2.x or 3.x version such as 2.9.49 or '
                       '3.4.5, got "%s"' % juju_version)
    ops.check_ingress_offset(ingress_offset)
    paths = list(DEFAULT_PRIVATE_PATHS)
    for p in private_paths or []:
        if not p.startswith("/") or p.rstrip("/") in ("", "/etc", "/var", "/usr", "/tmp"):
            raise SimError('cannot make "%s" private to units' % p)
        if p not in paths:
            paths.append(p.rstrip("/"))
    for p in paths:
        if model.path == p or model.path.startswith(p + "/"):
            raise SimError("the model dir %s is inside %s, which units mount privately" % (
                model.path, p))
    name = re.sub(r"[^a-z0-9-]", "-", os.path.basename(model.path).lower()).strip("-") or "sim"
    st = ops.new_state(name, subnet, paths, hook_timeout, "", None, juju_version=juju_version,
                       ingress_offset=ingress_offset)
    st["parallel"] = parallel
    model.create(st)
    with model.locked() as st:
        controller.init_host(model, st)
    return st


def version_tuple(version):
    return tuple(int(x) for x in re.findall(r"\d+", str(version))[:3])


def ensure_model(model):
    if not model.exists():
        init_model(model)


# --------------------------------------------------------------------------
# helpers

def snapshot_charm(model, app, src, rev):
    """Juju uploads a charm at deploy time: later edits of the source don't leak in."""
    dest = os.path.join(model.path, "charms", app, "rev-%d" % rev)
    if os.path.exists(dest):
        shutil.rmtree(dest)
    copy_charm(src, dest)
    return dest


def resolve_charm_path(spec, base_dir=None, channel=None):
    if os.path.isdir(spec):
        return os.path.abspath(spec)
    if base_dir and os.path.isdir(os.path.join(base_dir, spec)):
        return os.path.abspath(os.path.join(base_dir, spec))
    standin = standin_dir(spec, channel)
    if standin:
        return standin
    raise SimError('charm "%s" not found: not a directory and no stand-in of that name' % spec)


def detect_pg_bin_dir():
    spec = importlib.util.find_spec("pgserver")  # found, not imported
    if spec and spec.submodule_search_locations:
        path = os.path.join(spec.submodule_search_locations[0], "pginstall", "bin")
        if os.path.exists(os.path.join(path, "postgres")):
            return path
    for path in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(path, "postgres")):
            return path
    return None


def model_pg_bin_dir(model, bindir):
    """The PostgreSQL installation seen from the model dir: the stand-in runs postgres
    as user postgres and makes the folders above its binaries traversable, which must
    not touch the host's (the pgserver package may sit under /root). Where a folder
    above it is closed to others, the model gets a hard-linked copy (a real copy
    across filesystems), which costs no space."""
    install = os.path.dirname(bindir.rstrip("/"))
    if all(os.stat(folder).st_mode & 0o001 for folder in _ancestors(install)):
        return bindir
    copy = os.path.join(model.path, "pginstall")
    if not os.path.isdir(copy):
        if subprocess.call(["cp", "-al", install, copy + ".tmp"], stderr=subprocess.DEVNULL) != 0:
            shutil.rmtree(copy + ".tmp", ignore_errors=True)
            subprocess.check_call(["cp", "-a", install, copy + ".tmp"])
        os.rename(copy + ".tmp", copy)
    return os.path.join(copy, os.path.basename(bindir.rstrip("/")))


def _ancestors(path):
    path = os.path.realpath(path)
    while path != "/":
        yield path
        path = os.path.dirname(path)


def config_file_settings(data, app):
    """The settings of a `juju config --file` / `deploy --config` YAML file.

    Like Juju's application facade (apiserver/facades/client/application:
    ParseSettingsYAML, else charmConfigFromConfigValues): the mapping under the
    application's name; else, when the file is `juju config <app>` output (a
    `settings` mapping of option -> {value, default, ...}; its `application`,
    `charm` and `application-config` are not read), each option's `value`,
    options without one skipped. Unknown options are refused later, as Juju does.
    A plain mapping without the application's name is taken as the settings (the
    simulator's shorthand; Juju says `no settings found`)."""
    if not isinstance(data, dict):
        raise SimError('no settings found for "%s"' % app)
    if isinstance(data.get(app), dict):
        return data[app]
    if isinstance(data.get("settings"), dict) and all(isinstance(v, dict) for v in data["settings"].values()):
        return {key: spec["value"] for key, spec in data["settings"].items() if "value" in spec}
    return data


def parse_config_args(options, items, app):
    values = {}
    for item in items or []:
        if "=" in item:
            key, raw = item.split("=", 1)
            values[key] = parse_option(options, key, raw)
        elif os.path.isfile(item):
            data = yaml.safe_load(open(item)) or {}
            for key, value in config_file_settings(data, app).items():
                values[key] = check_option_value(options, key, value)
        else:
            raise SimError('--config: expected key=value or a YAML file, got "%s"' % item)
    return values


def deploy_one(model, st, app, path, config_values, num_units, ingress_offset=None,
               channel=None):
    charm = load_charm(path)
    app = app or charm["name"]
    if app in st["applications"]:
        raise SimError('application "%s" already exists' % app)
    if "pg_bin_dir" in charm["options"] and "pg_bin_dir" not in config_values \
            and not charm["options"]["pg_bin_dir"].get("default"):
        detected = detect_pg_bin_dir()
        if detected:
            config_values["pg_bin_dir"] = model_pg_bin_dir(model, detected)
    src = snapshot_charm(model, app, path, 0)
    charm["origin"] = path
    ops.deploy(st, app, charm, src, config_values, num_units, ingress_offset=ingress_offset,
               channel=channel)
    return app


# --------------------------------------------------------------------------
# verbs

def cmd_init(model, args):
    init_model(model, args.subnet, args.parallel, args.hook_timeout, args.private_path,
               args.juju_version, args.ingress_offset)
    print("model %s created (Juju %s)" % (model.path, args.juju_version))


def cmd_deploy(model, args):
    ensure_model(model)
    target = args.charm
    if os.path.isfile(target) and target.endswith((".yaml", ".yml")):
        return deploy_bundle(model, args)
    if args.charm_override:
        raise SimError("--charm APP=DIR is for bundles")
    path = resolve_charm_path(target, channel=args.channel)
    charm = load_charm(path)
    app = args.app or charm["name"]
    values = parse_config_args(charm["options"], args.config, app)
    num = 1 if args.num_units is None else args.num_units
    with model.locked() as st:
        if charm["subordinate"]:
            # Juju 2.9 refuses units for a subordinate; Juju >= 3.3's CLI ignores -n
            # (real-charms-facts.md section 7)
            if args.num_units is not None and version_tuple(st["juju_version"]) >= (3, 3):
                sys.stderr.write("WARNING -n is ignored: %s is a subordinate\n" % app)
                num = 0
            elif args.num_units is None:
                num = 0
        deploy_one(model, st, app, path, values, num, ingress_offset=args.ingress_offset,
                   channel=args.channel)
    controller.ensure_controller(model)
    print('Deployed "%s" from %s (%d unit%s)' % (app, path, num, "" if num == 1 else "s"))


def deploy_bundle(model, args):
    base = os.path.dirname(os.path.abspath(args.charm))
    with open(args.charm) as f:
        bundle = yaml.safe_load(f) or {}
    apps = bundle.get("applications") or bundle.get("services") or {}
    if not apps:
        raise SimError("%s has no applications" % args.charm)
    overrides = {}
    for item in args.charm_override or []:
        if "=" not in item:
            raise SimError('--charm expects APP=DIR, got "%s"' % item)
        app, path = item.split("=", 1)
        if app not in apps:
            raise SimError('--charm %s: the bundle has no application "%s"' % (item, app))
        overrides[app] = os.path.abspath(path)
    plan = []
    for app, spec in apps.items():
        spec = spec or {}
        charm_ref = str(spec.get("charm", app))
        channel = spec.get("channel")
        if app in overrides:
            path = overrides[app]
            if not os.path.isdir(path):
                raise SimError("--charm %s=%s: no such directory" % (app, path))
        else:
            path = standin_dir(charm_ref, channel) or standin_dir(app, channel)
            if path is None:
                path = resolve_charm_path(charm_ref, base)
        charm = load_charm(path)
        values = {}
        for key, value in (spec.get("options") or {}).items():
            values[key] = check_option_value(charm["options"], key, value)
        if charm["subordinate"]:
            # a bundle's subordinate has no num_units and no placement (facts section 7)
            if spec.get("to"):
                raise SimError('cannot deploy bundle: application "%s": application is a '
                               'subordinate (it cannot be placed with "to")' % app)
            if spec.get("num_units", spec.get("scale", 0)):
                raise SimError('cannot deploy bundle: application "%s": subordinate '
                               'application must be deployed without units' % app)
            num = 0
        else:
            num = spec.get("num_units", spec.get("scale", 1))
        plan.append((app, path, values, int(num), channel))
    with model.locked() as st:
        for app, path, values, num, channel in plan:
            deploy_one(model, st, app, path, values, num, channel=channel)
        for pair in bundle.get("relations") or []:
            if isinstance(pair, str):
                pair = pair.split()
            ops.relate(st, pair[0], pair[1])
    controller.ensure_controller(model)
    for app, path, values, num, channel in plan:
        print('Deployed "%s" from %s (%d unit%s)' % (app, path, num, "" if num == 1 else "s"))


def cmd_add_unit(model, args):
    with model.locked() as st:
        units = [ops.add_unit(st, args.app) for _ in range(args.num_units)]
    controller.ensure_controller(model)
    print("Added %s" % ", ".join(units))


def cmd_remove_unit(model, args):
    with model.locked() as st:
        for unit in args.units:
            ops.remove_unit(st, ops.resolve_unit(st, unit), subordinate_ok=False)
    controller.ensure_controller(model)
    print("Removing %s" % ", ".join(args.units))


def cmd_config(model, args):
    reset = [k for item in (args.reset or []) for k in item.split(",") if k]
    with model.locked() as st:
        a = ops.app_of(st, args.app)
        options = a["charm"]["options"]
        from .charmmeta import effective_config
        eff = effective_config(options, a["config"])
        if not args.settings and not reset and not args.file:
            out_json(eff)
            return
        if len(args.settings) == 1 and "=" not in args.settings[0] and not reset and not args.file:
            key = args.settings[0]
            if key not in options:
                raise SimError('unknown option "%s"' % key)
            out_json(eff[key])
            return
        changes = parse_config_args(options, args.settings + ([args.file] if args.file else []),
                                    args.app)
        ops.set_config(st, args.app, changes, reset)
    controller.ensure_controller(model)


def cmd_relate(model, args):
    with model.locked() as st:
        rel = ops.relate(st, args.a, args.b)
    controller.ensure_controller(model)
    print("Related %s (relation id %d)" % (ops.relation_key(rel), rel["id"]))


def cmd_remove_relation(model, args):
    with model.locked() as st:
        rel = ops.find_relation_between(st, args.a, args.b)
        ops.remove_relation(st, rel)
    controller.ensure_controller(model)
    print("Removing relation %s" % ops.relation_key(rel))


def _coerce_param(schema, key_path, raw):
    spec = schema
    for part in key_path:
        spec = ((spec or {}).get("properties") or (spec or {}).get("params") or {}).get(part)
        if spec is None:
            break
    typ = (spec or {}).get("type")
    if typ == "string":
        return raw
    try:
        return yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        return raw


def _check_params(action_spec, params, name):
    props = action_spec.get("params") or {}
    for key in params:
        if key not in props and action_spec.get("additionalProperties", True) is False:
            raise SimError('validation failed: additional property "%s" is not allowed for '
                           'action "%s"' % (key, name))
    for key in action_spec.get("required") or []:
        if key not in params and "default" not in (props.get(key) or {}):
            raise SimError('validation failed: missing required parameter "%s" of action "%s"'
                           % (key, name))
    types = {"string": str, "integer": int, "number": (int, float), "boolean": bool,
             "array": list, "object": dict}
    out = {}
    for key, spec in props.items():
        spec = spec or {}
        if key in params:
            value = params[key]
            want = types.get(spec.get("type"))
            if want and not isinstance(value, want) or (
                    spec.get("type") in ("integer", "number") and isinstance(value, bool)):
                raise SimError('validation failed: parameter "%s" of action "%s" must be %s, got '
                               '%r' % (key, name, spec.get("type"), value))
            if spec.get("enum") and value not in spec["enum"]:
                raise SimError('validation failed: parameter "%s" must be one of %s' % (
                    key, spec["enum"]))
            out[key] = value
        elif "default" in spec:
            out[key] = spec["default"]
    for key, value in params.items():
        out.setdefault(key, value)
    return out


def queue_action(model, unit_name, kind, name=None, params=None, argv=None):
    with model.locked() as st:
        unit = ops.resolve_unit(st, unit_name)
        if kind == "action":
            actions = st["applications"][unit_app(unit)]["charm"]["actions"]
            if name not in actions:
                raise SimError('no action "%s" defined for %s (defined: %s)' % (
                    name, unit, ", ".join(sorted(actions)) or "none"))
            params = _check_params(actions[name] or {}, params or {}, name)
        st["counters"]["action"] += 1
        aid = str(st["counters"]["action"])
        st["actions"][aid] = {
            "id": aid, "uuid": str(uuid.uuid4()), "kind": kind, "unit": unit,
            "name": name or "exec", "params": params or {}, "argv": argv,
            "status": "pending", "results": {}, "message": "", "log": [],
            "enqueued": now(), "started": None, "completed": None,
        }
        ops.enqueue(st, unit, None, kind=kind, action_id=aid, name=name or "exec", argv=argv)
    controller.ensure_controller(model)
    return aid


def wait_action(model, aid, timeout):
    deadline = time.time() + timeout
    while True:
        st = model.read()
        act = st["actions"][aid]
        if act["status"] in ("completed", "failed"):
            return act
        if time.time() > deadline:
            raise SimError("timed out after %ss waiting for action %s (%s)" % (
                timeout, aid, act["status"]))
        if act["status"] == "pending":
            controller.ensure_controller(model)
        time.sleep(0.05)


def action_view(act):
    return {k: act.get(k) for k in ("id", "unit", "name", "status", "message", "results", "log",
                                    "return-code", "stdout", "stderr", "params", "enqueued",
                                    "started", "completed")}


def cmd_run_action(model, args):
    params = {}
    for item in args.params:
        if "=" not in item:
            raise SimError('expected "key=value" action parameter, got "%s"' % item)
        key, raw = item.split("=", 1)
        path = key.split(".")
        st = model.read()
        unit = ops.resolve_unit(st, args.unit)
        spec = st["applications"][unit_app(unit)]["charm"]["actions"].get(args.action) or {}
        value = _coerce_param(spec, path, raw)
        node = params
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    aid = queue_action(model, args.unit, "action", args.action, params)
    if args.no_wait:
        out_json({"id": aid})
        return 0
    act = wait_action(model, aid, args.timeout)
    out_json(action_view(act))
    return 0 if act["status"] == "completed" else 1


def cmd_show_action_output(model, args):
    st = model.read()
    act = st["actions"].get(args.id)
    if act is None:
        raise SimError('action "%s" not found' % args.id)
    if args.wait:
        act = wait_action(model, args.id, args.wait)
    out_json(action_view(act))
    return 0 if act["status"] == "completed" else (1 if act["status"] == "failed" else 0)


def cmd_exec(model, args):
    argv = list(args.command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise SimError("exec: no command given (jujusim exec UNIT -- COMMAND ...)")
    if len(argv) == 1 and " " in argv[0]:
        argv = ["/bin/sh", "-c", argv[0]]
    aid = queue_action(model, args.unit, "exec", argv=argv)
    act = wait_action(model, aid, args.timeout)
    sys.stdout.write(act.get("stdout") or "")
    sys.stderr.write(act.get("stderr") or "")
    return act.get("return-code") or 0


def cmd_upgrade_charm(model, args):
    path = resolve_charm_path(args.path)
    charm = load_charm(path)
    with model.locked() as st:
        a = ops.app_of(st, args.app)
        if charm["name"] != a["charm"]["name"] and not args.force:
            raise SimError('cannot upgrade "%s" to charm "%s": different charm name (use --force)'
                           % (args.app, charm["name"]))
        src = snapshot_charm(model, args.app, path, a["charm_rev"] + 1)
        charm["origin"] = path
        ops.upgrade_charm(st, args.app, charm, src)
        rev = a["charm_rev"]
    controller.ensure_controller(model)
    print('Upgrading "%s" to revision %d from %s' % (args.app, rev, path))


def unit_status_view(st, unit):
    u = st["units"][unit]
    app = unit_app(unit)
    if u["error"]:
        hook = u["error"].get("hook") or u["error"]["kind"]
        workload = {"current": "error", "message": 'hook failed: "%s"' % hook,
                    "since": u["agent"]["since"]}
    else:
        workload = {"current": u["workload"]["status"], "message": u["workload"]["message"],
                    "since": u["workload"]["since"]}
    view = {
        "workload-status": workload,
        "juju-status": {"current": u["agent"]["status"], "message": u["agent"]["message"],
                        "since": u["agent"]["since"], "version": st["juju_version"]},
        "leader": st["applications"][app]["leader"] == unit,
        "machine": u["machine"],
        "public-address": u.get("ingress") or u["address"],
        "private-address": u["address"],
    }
    if u.get("ingress") and u["ingress"] != u["address"]:
        view["ingress-address"] = u["ingress"]
    if u["ports"]:
        view["open-ports"] = list(u["ports"])
    if u["dying"]:
        view["life"] = "dying"
    if u.get("series_lock") or u.get("series_upgrade"):
        view["upgrading-from"] = (u.get("series_upgrade") or {}).get("from", u.get("series"))
    subs = {}
    for other, d in sorted(st["units"].items()):
        if d.get("principal") == unit:
            subs[other] = unit_status_view(st, other)
    if subs:
        view["subordinates"] = subs
    return view


def status_document(st):
    apps = {}
    machines = {}
    for app, a in sorted(st["applications"].items()):
        units = {}
        subordinate = bool(a["charm"].get("subordinate"))
        for unit in a["units"]:
            if unit in st["units"]:
                units[unit] = unit_status_view(st, unit)
                u = st["units"][unit]
                if subordinate:
                    continue
                addresses = [u["address"]]
                if u.get("ingress") and u["ingress"] != u["address"]:
                    addresses.append(u["ingress"])
                machines[u["machine"]] = {
                    "juju-status": {"current": "started"}, "dns-name": addresses[-1],
                    "ip-addresses": addresses, "instance-id": "jujusim-%s" % u["machine"],
                    "series": u.get("series", "jammy"),
                    "base": {"name": "ubuntu", "channel": SERIES_VERSIONS.get(
                        u.get("series", "jammy"), "")},
                    "hostname": "juju-%s-%s" % (st["name"], u["machine"])}
        if a["status"]:
            app_status = {"current": a["status"]["status"], "message": a["status"]["message"],
                          "since": a["status"]["since"]}
        elif units:
            worst = min(units.values(), key=lambda v: STATUS_PRIORITY.index(
                v["workload-status"]["current"]) if v["workload-status"]["current"]
                in STATUS_PRIORITY else 99)
            app_status = dict(worst["workload-status"])
        else:
            app_status = {"current": "unknown", "message": ""}
        relations = {}
        for rel in ops.relations_of_app(st, app):
            if rel["dying"]:
                continue
            ep = ops.rel_side(rel, app)["endpoint"]
            relations.setdefault(ep, []).append(ops.rel_remote_app(rel, app))
        apps[app] = {
            "charm": a["charm"]["name"],
            "charm-name": a["charm"]["name"],
            "charm-origin": "local",
            "charm-rev": a["charm_rev"],
            "charm-path": a["charm"].get("origin", a["charm_src"]),
            "series": "jammy",
            "exposed": a["exposed"],
            "application-status": app_status,
            "version": a["version"],
            "relations": {k: sorted(v) for k, v in relations.items()},
        }
        if subordinate:
            # Juju's shape: a subordinate's units are listed under their principals
            apps[app]["subordinate-to"] = sorted({
                ops.rel_remote_app(r, app) for r in ops.relations_of_app(st, app)
                if r.get("container") and not r["dying"]
                and not ops.is_subordinate(st, ops.rel_remote_app(r, app))})
        else:
            apps[app]["units"] = units
    relations = []
    for rel in sorted(st["relations"].values(), key=lambda r: r["id"]):
        if rel["peer"]:
            ep = rel["endpoints"][0]
            relations.append({"id": rel["id"], "interface": ep["interface"], "peer": True,
                              "endpoints": ["%s:%s" % (ep["app"], ep["endpoint"])]})
            continue
        relations.append({
            "id": rel["id"], "interface": rel["endpoints"][0]["interface"],
            "provider": "%s:%s" % (rel["endpoints"][0]["app"], rel["endpoints"][0]["endpoint"]),
            "requirer": "%s:%s" % (rel["endpoints"][1]["app"], rel["endpoints"][1]["endpoint"]),
            "scope": "container" if rel.get("container") else "global",
            "status": "dying" if rel["dying"] else "joined"})
    return {
        "model": {"name": st["name"], "type": "iaas", "controller": "jujusim",
                  "cloud": "jujusim", "region": "localhost", "version": st["juju_version"],
                  "model-status": {"current": "destroyed" if st.get("destroyed") else "available"}},
        "machines": machines,
        "applications": apps,
        "relations": relations,
    }


def cmd_status(model, args):
    st = model.read()
    doc = status_document(st)
    doc["model"]["path"] = model.path
    if args.format == "json":
        out_json(doc)
        return
    if args.format == "yaml":
        sys.stdout.write(yaml.safe_dump(doc, default_flow_style=False))
        return
    print("Model %s (%s)  jujusim %s" % (st["name"], model.path, st["juju_version"]))
    print()
    print("%-20s %-12s %-6s %s" % ("App", "Status", "Rev", "Charm"))
    for app, a in doc["applications"].items():
        print("%-20s %-12s %-6s %s" % (app, a["application-status"]["current"], a["charm-rev"],
                                       a["charm"]))
    print()
    print("%-22s %-12s %-12s %-14s %-12s %s" % ("Unit", "Workload", "Agent", "Address", "Ports",
                                                 "Message"))
    def line(unit, u, indent=""):
        name = indent + unit + ("*" if u["leader"] else "")
        print("%-22s %-12s %-12s %-14s %-12s %s" % (
            name, u["workload-status"]["current"], u["juju-status"]["current"],
            u["public-address"], ",".join(u.get("open-ports", [])),
            u["workload-status"]["message"]))

    for app, a in doc["applications"].items():
        for unit, u in a.get("units", {}).items():
            line(unit, u)
            for sub, su in u.get("subordinates", {}).items():
                line(sub, su, "  ")
    if doc["relations"]:
        print()
        print("%-30s %-30s %-14s %s" % ("Provider", "Requirer", "Interface", "Type"))
        for rel in doc["relations"]:
            if rel.get("peer"):
                print("%-30s %-30s %-14s %s" % (rel["endpoints"][0], rel["endpoints"][0],
                                                rel["interface"], "peer"))
            else:
                print("%-30s %-30s %-14s %s" % (
                    rel["provider"], rel["requirer"], rel["interface"],
                    "subordinate" if rel.get("scope") == "container" else "regular"))


def cmd_show_unit(model, args):
    st = model.read()
    unit = ops.resolve_unit(st, args.unit)
    app = unit_app(unit)
    view = unit_status_view(st, unit)
    info = []
    if st["units"][unit].get("principal"):
        view["principal"] = st["units"][unit]["principal"]
    for rel in sorted(ops.relations_of_unit(st, unit), key=lambda r: r["id"]):
        side = ops.rel_side(rel, app)
        remote_app = ops.rel_remote_app(rel, app)
        remote_side = rel["endpoints"][0] if rel["peer"] else [
            e for e in rel["endpoints"] if e["app"] != app][0]
        related = {}
        for other in ops.rel_other_units(st, rel, unit):
            related[other] = {"in-scope": other in rel["scope"].get(unit, []),
                              "data": dict(rel["settings"].get(other, {}))}
        info.append({
            "relation-id": rel["id"],
            "endpoint": side["endpoint"],
            "related-endpoint": remote_side["endpoint"],
            "application-data": dict(rel["app_settings"].get(remote_app, {})),
            "local-application-data": dict(rel["app_settings"].get(app, {})),
            "local-unit": {"in-scope": unit in rel["scope"],
                           "data": dict(rel["settings"].get(unit, {}))},
            "related-units": related,
        })
    view["relation-info"] = info
    view["leader-data"] = dict(st["applications"][app]["leader_data"])
    view["queue"] = [e.get("hook") or e["kind"] for e in st["units"][unit]["queue"]]
    out_json({unit: view})


def is_idle(st):
    """No event can run: queues are empty, or held by a failed hook or by a series
    upgrade's prepare step (those wait for `resolved` / `upgrade-series complete`)."""
    for u in st["units"].values():
        if u["running"]:
            return False
        for ev in u["queue"]:
            if ev["kind"] in ("action", "exec"):
                return False
            if u["error"]:
                continue
            if u.get("series_lock") and ev.get("hook") != "post-series-upgrade":
                continue
            return False
    return True


def cmd_wait(model, args):
    deadline = time.time() + args.timeout
    while True:
        st = model.read()
        if is_idle(st):
            break
        if time.time() > deadline:
            busy = []
            for unit, u in sorted(st["units"].items()):
                if u["running"] or u["queue"]:
                    cur = u["running"]
                    busy.append("%s (running: %s; queued: %s)" % (
                        unit, (cur.get("hook") or cur["kind"]) if cur else "-",
                        ", ".join(e.get("hook") or e["kind"] for e in u["queue"]) or "-"))
            sys.stderr.write("ERROR timed out after %ss; still busy: %s\n" % (
                args.timeout, "; ".join(busy)))
            return 2
        controller.ensure_controller(model)
        time.sleep(0.1)
    errors = [(unit, u["error"]) for unit, u in sorted(st["units"].items()) if u["error"]]
    for unit, ev in errors:
        sys.stderr.write('unit %s is in error: hook failed: "%s" (see: jujusim debug-log '
                         '--include %s)\n' % (unit, ev.get("hook") or ev["kind"], unit))
    return 1 if errors else 0


def cmd_destroy(model, args):
    if not model.exists():
        if args.purge and os.path.isdir(model.path):
            shutil.rmtree(model.path)
        return 0
    left = controller.destroy(model)
    if left:
        sys.stderr.write("ERROR processes survived destroy: %s\n" % left)
        return 1
    if args.purge:
        shutil.rmtree(model.path)
    print("Model %s destroyed" % model.path)
    return 0


def cmd_update_status(model, args):
    with model.locked() as st:
        apps = args.apps or list(st["applications"])
        for app in apps:
            for unit in ops.alive_units(st, app):
                ops.enqueue(st, unit, "update-status")
    controller.ensure_controller(model)


def cmd_run_hook(model, args):
    """Queues one hook on a unit (not a Juju verb: for idempotency tests)."""
    with model.locked() as st:
        unit = ops.resolve_unit(st, args.unit)
        app = unit_app(unit)
        hook = args.hook
        if "-relation-" in hook:
            endpoint, kind = hook.split("-relation-", 1)
            if kind not in ("created", "joined", "changed", "departed", "broken"):
                raise SimError('unknown relation hook "%s"' % hook)
            rels = [r for r in ops.relations_of_app(st, app)
                    if ops.rel_side(r, app)["endpoint"] == endpoint and not r["dying"]]
            if args.relation:
                rels = [ops.find_relation(st, unit, args.relation)]
            if not rels:
                raise SimError('unit %s has no "%s" relation' % (unit, endpoint))
            rel = rels[0]
            remote = args.remote_unit
            if remote is None and kind in ("joined", "changed", "departed"):
                scope = rel["scope"].get(unit, [])
                if not scope:
                    raise SimError("no remote unit in scope of %s on %s: pass --remote-unit" % (
                        unit, ops.rid_for(rel, app)))
                remote = scope[0]
            ops._rel_hook(st, unit, rel, kind, remote_unit=remote or "",
                          departing=remote if kind == "departed" else None)
        else:
            ops.enqueue(st, unit, hook)
    controller.ensure_controller(model)


def _series_arg(value):
    if not value:
        raise SimError("prepare needs the series to upgrade to (e.g. noble or ubuntu@24.04)")
    if value.startswith("ubuntu@"):
        version = value.split("@", 1)[1]
        for series, v in SERIES_VERSIONS.items():
            if v == version:
                return series
        raise SimError('base "%s" not supported (known: %s)' % (value, ", ".join(
            "ubuntu@" + v for v in SERIES_VERSIONS.values())))
    if value not in SERIES_VERSIONS:
        raise SimError('series "%s" not supported (known: %s)' % (value, ", ".join(
            SERIES_VERSIONS)))
    return value


def cmd_upgrade_series(model, args):
    """Juju 2.9's `upgrade-series MACHINE prepare SERIES` / `complete` (Juju 3:
    `upgrade-machine MACHINE prepare BASE`): prepare runs pre-series-upgrade on the
    machine's units (subordinates first) and then holds their other hooks; complete
    switches the machine's /etc/os-release to the new series and runs
    post-series-upgrade first."""
    with model.locked() as st:
        if "/" in args.machine:
            unit = ops.resolve_unit(st, args.machine)
        else:
            found = [u for u, d in st["units"].items()
                     if d["machine"] == args.machine and not d.get("principal")]
            if not found:
                raise SimError('machine "%s" not found' % args.machine)
            unit = found[0]
        if args.step == "prepare":
            units = ops.upgrade_series_prepare(st, unit, _series_arg(args.series))
        else:
            units = ops.upgrade_series_complete(st, unit)
            for u in units:
                if os.path.exists(os.path.join(model.unit_dir(u), "mounts.json")):
                    controller.write_mounts(model, st, u)
        machine = st["units"][unit]["machine"]
    controller.ensure_controller(model)
    print("machine-%s: %s queued on %s" % (
        machine, "pre-series-upgrade" if args.step == "prepare" else "post-series-upgrade",
        ", ".join(units)))


def cmd_resolved(model, args):
    with model.locked() as st:
        ops.resolve(st, ops.resolve_unit(st, args.unit), retry=not args.no_retry)
    controller.ensure_controller(model)


def _tail(path, lines):
    try:
        with open(path, errors="replace") as f:
            data = f.read().splitlines()
    except OSError:
        return []
    return data[-lines:] if lines else data


def cmd_debug_log(model, args):
    logs = sorted(glob.glob(os.path.join(model.logs_dir, "unit-*.log")))
    wanted = {agent_tag(u) if "/" in u else u for u in (args.include or [])}
    for path in logs:
        tag = os.path.basename(path)[:-4]
        if wanted and tag not in wanted and not any(tag.startswith("unit-" + w + "-")
                                                     for w in wanted):
            continue
        print("==> %s <==" % tag)
        for line in _tail(path, args.lines):
            print(line)
    if args.controller or not wanted:
        path = os.path.join(model.logs_dir, "controller.log")
        if os.path.exists(path) and args.controller:
            print("==> controller <==")
            for line in _tail(path, args.lines):
                print(line)


def cmd_journal(model, args):
    st = model.read()
    unit = ops.resolve_unit(st, args.unit) if "/" in args.unit else args.unit
    jdir = os.path.join(model.unit_dir(unit), "journal")
    names = [args.service] if args.service else sorted(
        os.path.basename(p)[:-4] for p in glob.glob(os.path.join(jdir, "*.log")))
    for name in names:
        if not name.endswith(".log") and "." not in name:
            name += ".service"
        print("==> %s %s <==" % (unit, name))
        for line in _tail(os.path.join(jdir, name + ".log"), args.lines):
            print(line)


def cmd_controller(model, args):
    return controller.Controller(model).serve()


# --------------------------------------------------------------------------

def build_parser():
    p = argparse.ArgumentParser(prog="jujusim", description=__doc__)
    p.add_argument("--model", "-m", default=os.environ.get("JUJUSIM_MODEL"),
                   help="model directory (or $JUJUSIM_MODEL)")
    sub = p.add_subparsers(dest="verb", metavar="VERB")

    s = sub.add_parser("init", help="create an empty model with options")
    s.add_argument("--subnet", default="127.0.1", help="unit addresses are SUBNET.N")
    s.add_argument("--parallel", type=int, default=1, help="hooks run at once in the model")
    s.add_argument("--hook-timeout", type=int, default=600)
    s.add_argument("--private-path", action="append", default=[],
                   help="another path to make private to each unit")
    s.add_argument("--juju-version", default=JUJU_VERSION,
                   help="the Juju the units' agents are (2.9.x, or 3.x: secrets)")
    s.add_argument("--ingress-offset", type=int, default=0,
                   help="machine N's ingress address is SUBNET.(N+1+K), not its own "
                        "SUBNET.(N+1) (0: the same)")
    s.set_defaults(fn=cmd_init)

    s = sub.add_parser("deploy", help="deploy a charm dir / stand-in name, or a bundle")
    s.add_argument("charm")
    s.add_argument("app", nargs="?")
    s.add_argument("-n", "--num-units", type=int, default=None)
    s.add_argument("--config", action="append", default=[], help="key=value or a YAML file")
    s.add_argument("--charm", dest="charm_override", action="append", default=[],
                   help="bundles: APP=DIR uses DIR for APP")
    s.add_argument("--channel", help="a stand-in's track, e.g. postgresql --channel 16/edge")
    s.add_argument("--ingress-offset", type=int, default=None,
                   help="this application's machines get ingress address SUBNET.(N+1+K)")
    s.set_defaults(fn=cmd_deploy)

    s = sub.add_parser("add-unit")
    s.add_argument("app")
    s.add_argument("-n", "--num-units", type=int, default=1)
    s.set_defaults(fn=cmd_add_unit)

    s = sub.add_parser("remove-unit")
    s.add_argument("units", nargs="+")
    s.set_defaults(fn=cmd_remove_unit)

    s = sub.add_parser("config")
    s.add_argument("app")
    s.add_argument("settings", nargs="*")
    s.add_argument("--reset", action="append", default=[])
    s.add_argument("--file")
    s.set_defaults(fn=cmd_config)

    for name in ("relate", "add-relation", "integrate"):
        s = sub.add_parser(name)
        s.add_argument("a")
        s.add_argument("b")
        s.set_defaults(fn=cmd_relate)

    s = sub.add_parser("remove-relation")
    s.add_argument("a")
    s.add_argument("b")
    s.set_defaults(fn=cmd_remove_relation)

    for name in ("run-action", "run"):
        s = sub.add_parser(name, help="run an action (waits; prints JSON; exit 1 if it failed)")
        s.add_argument("unit")
        s.add_argument("action")
        s.add_argument("params", nargs="*")
        s.add_argument("--no-wait", action="store_true")
        s.add_argument("--timeout", type=float, default=600)
        s.add_argument("--wait", action="store_true", help="accepted for Juju compatibility")
        s.add_argument("--format", default="json")
        s.set_defaults(fn=cmd_run_action)

    s = sub.add_parser("show-action-output")
    s.add_argument("id")
    s.add_argument("--wait", type=float, default=0)
    s.set_defaults(fn=cmd_show_action_output)

    s = sub.add_parser("exec", help="run a command on a unit, in a hook context")
    s.add_argument("unit")
    s.add_argument("command", nargs=argparse.REMAINDER)
    s.add_argument("--timeout", type=float, default=600)
    s.set_defaults(fn=cmd_exec)

    s = sub.add_parser("upgrade-charm")
    s.add_argument("app")
    s.add_argument("--path", required=True)
    s.add_argument("--force", action="store_true")
    s.set_defaults(fn=cmd_upgrade_charm)

    s = sub.add_parser("status")
    s.add_argument("--format", default="tabular", choices=["tabular", "json", "yaml"])
    s.set_defaults(fn=cmd_status)

    s = sub.add_parser("show-unit")
    s.add_argument("unit")
    s.set_defaults(fn=cmd_show_unit)

    s = sub.add_parser("wait", help="until no hook is pending; exit 1 if a unit is in error")
    s.add_argument("--timeout", type=float, default=600)
    s.set_defaults(fn=cmd_wait)

    s = sub.add_parser("destroy", help="stop every process of the model")
    s.add_argument("--purge", action="store_true", help="also delete the model directory")
    s.set_defaults(fn=cmd_destroy)

    s = sub.add_parser("update-status")
    s.add_argument("apps", nargs="*")
    s.set_defaults(fn=cmd_update_status)

    s = sub.add_parser("run-hook", help="queue one hook on a unit (simulator only: for "
                                         "idempotency tests)")
    s.add_argument("unit")
    s.add_argument("hook")
    s.add_argument("-r", "--relation")
    s.add_argument("--remote-unit")
    s.set_defaults(fn=cmd_run_hook)

    for name in ("upgrade-series", "upgrade-machine"):
        s = sub.add_parser(name, help="prepare|complete a series upgrade of a machine (its "
                                      "units: pre-/post-series-upgrade)")
        s.add_argument("machine", help="machine id, or a unit on it")
        s.add_argument("step", choices=["prepare", "complete"])
        s.add_argument("series", nargs="?", help="prepare: the new series (noble) or base "
                                                 "(ubuntu@24.04)")
        s.add_argument("-y", "--yes", action="store_true", help="accepted for Juju compatibility")
        s.add_argument("--force", action="store_true", help="accepted for Juju compatibility")
        s.set_defaults(fn=cmd_upgrade_series)

    s = sub.add_parser("resolved")
    s.add_argument("unit")
    s.add_argument("--no-retry", action="store_true")
    s.set_defaults(fn=cmd_resolved)

    s = sub.add_parser("debug-log", help="hook runs: output and juju-log lines, per unit")
    s.add_argument("--include", "-i", action="append", default=[], help="unit or application")
    s.add_argument("--lines", "-n", type=int, default=0, help="last N lines (0 = all)")
    s.add_argument("--controller", action="store_true", help="also the controller's log")
    s.set_defaults(fn=cmd_debug_log)

    s = sub.add_parser("journal", help="a unit's service output (like journalctl -u)")
    s.add_argument("unit")
    s.add_argument("service", nargs="?")
    s.add_argument("--lines", "-n", type=int, default=0)
    s.set_defaults(fn=cmd_journal)

    s = sub.add_parser("controller", help=argparse.SUPPRESS)
    s.set_defaults(fn=cmd_controller)
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "fn", None):
        parser.print_help()
        return 2
    if not args.model:
        sys.stderr.write("ERROR no model: pass --model DIR or set JUJUSIM_MODEL\n")
        return 2
    if os.geteuid() != 0:
        sys.stderr.write("ERROR jujusim needs root (mount namespaces, cgroups, setuid)\n")
        return 2
    model = Model(args.model)
    try:
        rc = args.fn(model, args)
    except SimError as e:
        sys.stderr.write("ERROR %s\n" % e)
        return 1
    return rc or 0
