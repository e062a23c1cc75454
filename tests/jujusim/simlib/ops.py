"""The model's event logic, as pure functions on the state document.

Every function here runs with the model lock held (Model.locked()) and only changes
the state dict it is given. The controller runs what ends up in the unit queues.

Juju semantics kept here:
- a unit's queue runs in order, one event at a time; a failed hook stops the queue
  (actions and `exec` still run) until `resolved`;
- deploy/add-unit: install, relation-created (existing relations), leader-elected on
  the leader or leader-settings-changed, config-changed, start, then
  relation-joined + relation-changed for every remote unit, on both sides;
- relation data: unit settings per unit per relation; application settings
  writable only by the leader; a hook's relation-set calls are committed when it
  exits 0 (discarded when it fails); a commit queues relation-changed on every
  remote unit that has the writer in scope (JUJU_REMOTE_UNIT = writer), or, for
  application data, on every remote unit that has a unit of that application in
  scope (JUJU_REMOTE_UNIT empty, JUJU_REMOTE_APP = writer's application);
- relation-list shows the remote units whose relation-joined has started here and
  whose relation-departed has not;
- remove-relation: departed for every remote unit in scope, then broken;
  remove-unit: departed on both sides, broken on the unit, stop, removal, and a new
  leader (leader-elected) when the leader went;
- leader-set queues leader-settings-changed on the other units; a config change
  queues config-changed on every unit;
- subordinates: an application whose charm says `subordinate: true` has no units
  of its own; a container-scoped relation (either endpoint has `scope: container`)
  with a principal application gives each principal unit one subordinate unit on
  its machine, and only co-located units are in each other's scope; the
  subordinate unit goes with its principal unit, or when its last container
  relation to the principal goes;
- secrets (Juju 3 models): a hook's secret-add/set/grant/revoke/remove are
  committed with its relation settings; a new revision queues secret-changed on the
  units that read an older one.
"""

import re

from .charmmeta import effective_config
from .model import JUJU_VERSION, SERIES, SimError, now, unit_app, unit_number

COALESCED_HOOKS = ("config-changed", "leader-settings-changed", "update-status")
# how many machines a model's /24 holds (addresses .1 - .254, ingress ones too)
MAX_HOST = 254


def new_state(name, subnet, private_paths, hook_timeout, extra_path, cgroup,
              juju_version=JUJU_VERSION, ingress_offset=0):
    import uuid
    return {
        "name": name,
        "uuid": str(uuid.uuid4()),
        "created": now(),
        "juju_version": juju_version,
        "ingress_offset": ingress_offset,
        "subnet": subnet,
        "private_paths": list(private_paths),
        "hook_timeout": hook_timeout,
        "extra_path": extra_path,
        "cgroup": cgroup,
        "destroying": False,
        "destroyed": False,
        "counters": {"machine": 0, "relation": 0, "seq": 0, "action": 0, "context": 0},
        "applications": {},
        "units": {},
        "relations": {},
        "actions": {},
        "contexts": {},
        "secrets": {},
        "host_paths_created": [],
    }


# --------------------------------------------------------------------------
# lookups

def app_of(st, app):
    try:
        return st["applications"][app]
    except KeyError:
        raise SimError('application "%s" not found' % app)


def unit_of(st, unit):
    try:
        return st["units"][unit]
    except KeyError:
        raise SimError('unit "%s" not found' % unit)


def resolve_unit(st, name):
    """'app/0' or 'app/leader'."""
    if "/" not in name:
        raise SimError('"%s" is not a unit name (app/N or app/leader)' % name)
    app, num = name.split("/", 1)
    if num == "leader":
        leader = app_of(st, app)["leader"]
        if not leader:
            raise SimError('application "%s" has no leader' % app)
        return leader
    unit_of(st, name)
    return name


def alive_units(st, app):
    return [u for u in app_of(st, app)["units"]
            if u in st["units"] and not st["units"][u]["dying"]]


def rel_side(rel, app):
    """The endpoint entry of `app` in relation `rel` (None if not part of it)."""
    for ep in rel["endpoints"]:
        if ep["app"] == app:
            return ep
    return None


def rel_remote_app(rel, app):
    if rel["peer"]:
        return app
    for ep in rel["endpoints"]:
        if ep["app"] != app:
            return ep["app"]
    return None


def rid_for(rel, app):
    return "%s:%d" % (rel_side(rel, app)["endpoint"], rel["id"])


def is_subordinate(st, app):
    return bool(app_of(st, app)["charm"].get("subordinate"))


def principal_of(st, unit):
    """The principal unit of a subordinate unit (None for a principal)."""
    return st["units"][unit].get("principal")


def machine_units(st, unit):
    """The units on the machine of `unit`: its principal first, then subordinates."""
    machine = st["units"][unit]["machine"]
    units = [u for u, d in st["units"].items() if d["machine"] == machine]
    return sorted(units, key=lambda u: (st["units"][u].get("principal") is not None, u))


def unit_takes_part(st, rel, unit):
    """Whether `unit` is part of relation `rel`. A subordinate unit takes part in a
    container-scoped relation only when it involves its principal's application
    (Juju: a subordinate unit never sees container relations of other principals)."""
    if rel_side(rel, unit_app(unit)) is None:
        return False
    if rel.get("container"):
        principal = principal_of(st, unit)
        if principal is not None:
            other = rel_remote_app(rel, unit_app(unit))
            if other != unit_app(principal) and not is_subordinate(st, other):
                return False
    return True


def can_pair(st, rel, a, b):
    """Whether units a and b enter each other's scope: container-scoped relations
    only join units on the same machine."""
    if not (unit_takes_part(st, rel, a) and unit_takes_part(st, rel, b)):
        return False
    if rel.get("container"):
        return st["units"][a]["machine"] == st["units"][b]["machine"]
    return True


def rel_other_units(st, rel, unit):
    """Units on the other side of the relation (other units of the app for peers)
    that can be in scope with `unit`."""
    app = unit_app(unit)
    other = rel_remote_app(rel, app)
    return [u for u in app_of(st, other)["units"]
            if u != unit and u in st["units"] and can_pair(st, rel, unit, u)]


def find_relation(st, unit, rid):
    """A relation id from a hook tool ('db:3' or '3') as seen by `unit`."""
    num = str(rid).rsplit(":", 1)[-1]
    rel = st["relations"].get(num)
    if rel is None or rel_side(rel, unit_app(unit)) is None:
        raise SimError('invalid value "%s" for option -r: relation not found' % rid)
    return rel


def relation_visible(rel, unit, st=None):
    if unit in rel.get("left", []):
        return False
    if st is not None and unit in st["units"] and not unit_takes_part(st, rel, unit):
        return False
    return (not rel["dying"]) or unit in rel["scope"]


def relations_of_app(st, app):
    return [r for r in st["relations"].values() if rel_side(r, app) is not None]


def relations_of_unit(st, unit):
    return [r for r in relations_of_app(st, unit_app(unit)) if unit_takes_part(st, r, unit)]


# --------------------------------------------------------------------------
# queue

def enqueue(st, unit, hook=None, kind="hook", **fields):
    u = st["units"][unit]
    ev = {"kind": kind, "hook": hook}
    ev.update(fields)
    if kind == "hook":
        for pending in u["queue"]:
            if pending["kind"] != "hook" or pending["hook"] != hook:
                continue
            if hook in COALESCED_HOOKS:
                return pending
            if hook == "secret-changed" and pending.get("secret_id") == ev.get("secret_id"):
                return pending
            if hook.endswith("-relation-changed") and all(
                    pending.get(k) == ev.get(k) for k in ("rid", "remote_unit", "remote_app")):
                return pending
    st["counters"]["seq"] += 1
    ev["seq"] = st["counters"]["seq"]
    u["queue"].append(ev)
    return ev


def _rel_hook(st, unit, rel, suffix, remote_unit="", departing=None):
    app = unit_app(unit)
    ep = rel_side(rel, app)
    remote_app = rel_remote_app(rel, app)
    fields = {"rid": str(rel["id"]), "endpoint": ep["endpoint"],
              "remote_unit": remote_unit or "", "remote_app": remote_app}
    if departing:
        fields["departing"] = departing
    return enqueue(st, unit, "%s-relation-%s" % (ep["endpoint"], suffix), **fields)


def drop_events(st, unit, pred):
    u = st["units"].get(unit)
    if u:
        u["queue"] = [e for e in u["queue"] if not pred(e)]


# --------------------------------------------------------------------------
# applications and units

APP_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]*[a-z][a-z0-9]*)*$")


def deploy(st, app, charm, charm_src, config, num_units, ingress_offset=None, channel=None):
    if not APP_NAME_RE.match(app):
        raise SimError('invalid application name "%s"' % app)
    if app in st["applications"]:
        raise SimError('application "%s" already exists' % app)
    if charm.get("subordinate") and num_units:
        # Juju's deploy API (real-charms-facts.md section 7)
        raise SimError("subordinate application must be deployed without units")
    if ingress_offset is not None:
        check_ingress_offset(ingress_offset)
    st["applications"][app] = {
        "charm": charm,
        "charm_src": charm_src,
        "charm_rev": 0,
        "channel": channel,
        "config": dict(config),
        "leader": None,
        "leader_data": {},
        "units": [],
        "next_unit": 0,
        "version": "",
        "status": None,
        "exposed": False,
        "ingress_offset": ingress_offset,
    }
    for name, ep in charm["endpoints"].items():
        if ep["role"] == "peers":
            _new_relation(st, [{"app": app, "endpoint": name, "role": "peers",
                                "interface": ep["interface"]}], peer=True)
    return [add_unit(st, app) for _ in range(num_units)]


def check_ingress_offset(offset):
    if not isinstance(offset, int) or offset < 0 or offset >= MAX_HOST:
        raise SimError("the ingress offset must be an integer from 0 to %d, got %r" % (
            MAX_HOST - 1, offset))


def _host_address(st, host):
    if host < 1 or host > MAX_HOST:
        raise SimError("no more addresses in %s.0/24" % st["subnet"])
    return "%s.%d" % (st["subnet"], host)


def _machine_addresses(st, machine, offset):
    """(bind address, ingress address) of machine N: SUBNET.(N+1), and with an ingress
    offset K the ingress address SUBNET.(N+1+K), which is no address of the unit's
    (like a floating IP: the controller forwards it, see simlib/ingress.py)."""
    host = int(machine) + 1
    bind = _host_address(st, host)
    ingress = _host_address(st, host + offset) if offset else bind
    taken = {}
    for other in st["units"].values():
        if other["machine"] != machine:
            taken[other["address"]] = other["machine"]
            taken[other.get("ingress") or other["address"]] = other["machine"]
    for addr in {bind, ingress}:
        if addr in taken:
            raise SimError("address %s of machine %s is taken by machine %s (ingress offset "
                           "%d): pick an offset above the number of machines" % (
                               addr, machine, taken[addr], offset))
    return bind, ingress


def add_unit(st, app, principal=None):
    """A new unit of `app`; for a subordinate application, on `principal`'s machine."""
    a = app_of(st, app)
    if a["charm"].get("subordinate") and principal is None:
        raise SimError('cannot add unit to application "%s": application is a subordinate'
                       % app)
    unit = "%s/%d" % (app, a["next_unit"])
    a["next_unit"] += 1
    if principal is None:
        machine = str(st["counters"]["machine"])
        st["counters"]["machine"] += 1
        offset = a.get("ingress_offset")
        if offset is None:
            offset = st.get("ingress_offset") or 0
        address, ingress = _machine_addresses(st, machine, offset)
        series = SERIES
    else:
        p = st["units"][principal]
        machine, address, ingress = p["machine"], p["address"], p.get("ingress") or p["address"]
        series = p.get("series", SERIES)
    st["units"][unit] = {
        "app": app,
        "machine": machine,
        "address": address,
        "ingress": ingress,
        "series": series,
        "principal": principal,
        "workload": {"status": "waiting", "message": "waiting for machine", "since": now()},
        "agent": {"status": "allocating", "message": "", "since": now()},
        "queue": [],
        "running": None,
        "error": None,
        "ports": [],
        "dying": False,
        "started": False,
        "charm_rev": a["charm_rev"],
        "kv": {},
        "created": now(),
    }
    a["units"].append(unit)
    # copies the charm into the unit's charm dir
    enqueue(st, unit, None, kind="deploy-charm", rev=a["charm_rev"], src=a["charm_src"])
    enqueue(st, unit, "install")
    rels = [r for r in relations_of_unit(st, unit) if not r["dying"]]
    for rel in rels:
        _enter(st, rel, unit)
    if a["leader"] is None:
        a["leader"] = unit
        enqueue(st, unit, "leader-elected")
    else:
        enqueue(st, unit, "leader-settings-changed")
    enqueue(st, unit, "config-changed")
    enqueue(st, unit, "start")
    for rel in rels:
        for other in rel_other_units(st, rel, unit):
            if not st["units"][other]["dying"]:
                _pair(st, rel, unit, other)
    if principal is None:
        for rel in rels:
            if rel.get("container"):
                sub_app = rel_remote_app(rel, app)
                if is_subordinate(st, sub_app):
                    ensure_subordinate(st, sub_app, unit)
    return unit


def ensure_subordinate(st, sub_app, principal):
    """The unit of `sub_app` on `principal`'s machine, created when missing."""
    machine = st["units"][principal]["machine"]
    for unit in alive_units(st, sub_app):
        if st["units"][unit]["machine"] == machine:
            return unit
    return add_unit(st, sub_app, principal=principal)


def _initial_settings(st, unit):
    """What Juju puts in each unit's relation settings: the ingress address (the
    address remote units reach this unit at)."""
    u = st["units"][unit]
    addr = u.get("ingress") or u["address"]
    return {"private-address": addr, "ingress-address": addr, "egress-subnets": addr + "/32"}


def _enter(st, rel, unit):
    rel["settings"].setdefault(unit, _initial_settings(st, unit))
    _rel_hook(st, unit, rel, "created")


def _pair(st, rel, a, b):
    for x, y in ((a, b), (b, a)):
        _rel_hook(st, x, rel, "joined", remote_unit=y)
        _rel_hook(st, x, rel, "changed", remote_unit=y)


def _new_relation(st, endpoints, peer=False, container=False):
    st["counters"]["relation"] += 1
    rid = st["counters"]["relation"]
    rel = {"id": rid, "endpoints": endpoints, "peer": peer, "settings": {},
           "container": container,
           "app_settings": {ep["app"]: {} for ep in endpoints},
           "scope": {}, "dying": False, "pending_broken": [], "left": [], "created": now()}
    st["relations"][str(rid)] = rel
    return rel


def _parse_endpoint_arg(arg):
    if ":" in arg:
        app, ep = arg.split(":", 1)
        return app, ep
    return arg, None


def relate(st, arg_a, arg_b):
    app_a, ep_a = _parse_endpoint_arg(arg_a)
    app_b, ep_b = _parse_endpoint_arg(arg_b)
    ca = app_of(st, app_a)["charm"]
    cb = app_of(st, app_b)["charm"]
    pairs = []
    for na, sa in ca["endpoints"].items():
        if ep_a and na != ep_a:
            continue
        for nb, sb in cb["endpoints"].items():
            if ep_b and nb != ep_b:
                continue
            roles = {sa["role"], sb["role"]}
            if roles == {"provides", "requires"} and sa["interface"] == sb["interface"]:
                pairs.append(((app_a, na, sa), (app_b, nb, sb)))
    if ep_a and ep_a not in ca["endpoints"]:
        raise SimError('application "%s" has no "%s" relation' % (app_a, ep_a))
    if ep_b and ep_b not in cb["endpoints"]:
        raise SimError('application "%s" has no "%s" relation' % (app_b, ep_b))
    if len(pairs) > 1:
        # like Juju, an explicit endpoint wins over the implicit juju-info one
        explicit = [p for p in pairs if not (p[0][2].get("implicit") or p[1][2].get("implicit"))]
        pairs = explicit or pairs
    if not pairs:
        raise SimError('no relations found between "%s" and "%s"' % (arg_a, arg_b))
    if len(pairs) > 1:
        raise SimError('ambiguous relation: "%s %s" could refer to %s' % (
            arg_a, arg_b, "; ".join('"%s:%s %s:%s"' % (x[0], x[1], y[0], y[1]) for x, y in pairs)))
    (xa, xn, xs), (ya, yn, ys) = pairs[0]
    container = "container" in (xs.get("scope"), ys.get("scope"))
    sub_a, sub_b = is_subordinate(st, xa), is_subordinate(st, ya)
    if container and not (sub_a or sub_b):
        raise SimError("cannot relate %s:%s to %s:%s: a container-scoped relation needs a "
                       "subordinate application" % (xa, xn, ya, yn))
    endpoints = [{"app": xa, "endpoint": xn, "role": xs["role"], "interface": xs["interface"]},
                 {"app": ya, "endpoint": yn, "role": ys["role"], "interface": ys["interface"]}]
    endpoints.sort(key=lambda e: e["role"] != "provides")
    for rel in st["relations"].values():
        if rel["peer"] or rel["dying"]:
            continue
        if sorted((e["app"], e["endpoint"]) for e in rel["endpoints"]) == \
                sorted((e["app"], e["endpoint"]) for e in endpoints):
            raise SimError("relation %s already exists" % relation_key(rel))
    rel = _new_relation(st, endpoints, container=container)
    if container and sub_a != sub_b:
        principal_app, sub_app = (ya, xa) if sub_a else (xa, ya)
        existing = alive_units(st, sub_app)
        for unit in alive_units(st, principal_app) + [u for u in existing
                                                      if unit_takes_part(st, rel, u)]:
            _enter(st, rel, unit)
        for pu in alive_units(st, principal_app):
            machine = st["units"][pu]["machine"]
            here = [u for u in existing if st["units"][u]["machine"] == machine]
            if here:
                _pair(st, rel, pu, here[0])
            else:
                ensure_subordinate(st, sub_app, pu)   # enters and pairs on its own
        return rel
    units_a = [u for u in alive_units(st, xa) if unit_takes_part(st, rel, u)]
    units_b = [u for u in alive_units(st, ya) if unit_takes_part(st, rel, u)]
    for unit in units_a + units_b:
        _enter(st, rel, unit)
    for ua in units_a:
        for ub in units_b:
            if can_pair(st, rel, ua, ub):
                _pair(st, rel, ua, ub)
    return rel


def relation_key(rel):
    return " ".join("%s:%s" % (e["app"], e["endpoint"]) for e in rel["endpoints"])


def find_relation_between(st, arg_a, arg_b):
    app_a, ep_a = _parse_endpoint_arg(arg_a)
    app_b, ep_b = _parse_endpoint_arg(arg_b)
    found = []
    for rel in st["relations"].values():
        if rel["peer"] or rel["dying"]:
            continue
        sa, sb = rel_side(rel, app_a), rel_side(rel, app_b)
        if not sa or not sb:
            continue
        if (ep_a and sa["endpoint"] != ep_a) or (ep_b and sb["endpoint"] != ep_b):
            continue
        found.append(rel)
    if not found:
        raise SimError('relation "%s %s" not found' % (arg_a, arg_b))
    if len(found) > 1:
        raise SimError("ambiguous relation: %s" % ", ".join(relation_key(r) for r in found))
    return found[0]


def remove_relation(st, rel):
    rel["dying"] = True
    rid = str(rel["id"])
    for unit in list(rel["settings"]):
        if unit not in st["units"]:
            continue
        drop_events(st, unit, lambda e: e.get("rid") == rid)
        if unit in rel["scope"]:
            for remote in list(rel["scope"][unit]):
                _rel_hook(st, unit, rel, "departed", remote_unit=remote, departing=remote)
            _rel_hook(st, unit, rel, "broken")
            rel["pending_broken"].append(unit)
    if rel.get("container"):
        # a subordinate unit lives as long as a container relation to its principal
        for unit in list(rel["settings"]):
            u = st["units"].get(unit)
            if not u or u["dying"] or not u.get("principal"):
                continue
            principal_app = unit_app(u["principal"])
            others = [r for r in relations_of_unit(st, unit)
                      if r is not rel and r.get("container") and not r["dying"]
                      and rel_side(r, principal_app) is not None]
            if not others:
                remove_unit(st, unit)
    if not rel["pending_broken"]:
        _forget_relation(st, rid)


def _forget_relation(st, rid):
    st["relations"].pop(rid, None)
    for secret in st.get("secrets", {}).values():   # a grant goes with its relation
        secret["grants"] = [g for g in secret.get("grants", []) if g["rid"] != rid]


def _has_departed_queued(st, unit, rid, remote):
    return any(e.get("hook", "").endswith("-relation-departed") and e.get("rid") == rid
               and e.get("remote_unit") == remote for e in st["units"][unit]["queue"])


def remove_unit(st, unit, subordinate_ok=True):
    u = unit_of(st, unit)
    if u["dying"]:
        raise SimError('unit "%s" is already being removed' % unit)
    if u.get("principal") and not subordinate_ok:
        raise SimError('removing unit %s failed: unit "%s" is a subordinate, to remove its '
                       'application use remove-application' % (unit, unit))
    # its subordinates go first (Juju removes a principal once its subordinates are gone)
    for sub in machine_units(st, unit):
        if sub != unit and st["units"][sub].get("principal") == unit \
                and not st["units"][sub]["dying"]:
            remove_unit(st, sub)
    u["dying"] = True
    u["error"] = None

    def kept(e):   # actions, and the departed/broken hooks of relations being removed
        if e["kind"] in ("action", "exec"):
            return True
        rel = st["relations"].get(e.get("rid") or "")
        return bool(rel and rel["dying"] and e["hook"].endswith(("-departed", "-broken")))
    u["queue"] = [e for e in u["queue"] if kept(e)]
    for rel in relations_of_unit(st, unit):
        if rel["dying"]:
            continue   # its departed/broken hooks are queued already
        rid = str(rel["id"])
        for other in rel_other_units(st, rel, unit):
            if st["units"][other]["dying"]:
                continue   # leaving too: its own removal queued what it needs
            drop_events(st, other, lambda e: e.get("rid") == rid and e.get("remote_unit") == unit)
            if unit in rel["scope"].get(other, []):
                _rel_hook(st, other, rel, "departed", remote_unit=unit, departing=unit)
        if unit in rel["scope"]:
            for remote in list(rel["scope"][unit]):
                if not _has_departed_queued(st, unit, rid, remote):
                    _rel_hook(st, unit, rel, "departed", remote_unit=remote, departing=unit)
            _rel_hook(st, unit, rel, "broken")
    enqueue(st, unit, "stop")
    enqueue(st, unit, None, kind="remove")


def finalize_removal(st, unit):
    """After the unit's last hook: forget it, elect a new leader if needed."""
    app = unit_app(unit)
    a = st["applications"][app]
    st["units"].pop(unit, None)
    if unit in a["units"]:
        a["units"].remove(unit)
    for rid, rel in list(st["relations"].items()):
        rel["settings"].pop(unit, None)
        rel["scope"].pop(unit, None)
        for units in rel["scope"].values():
            if unit in units:
                units.remove(unit)
        if unit in rel["pending_broken"]:
            rel["pending_broken"].remove(unit)
        if unit in rel["left"]:
            rel["left"].remove(unit)
        if rel["dying"] and not rel["pending_broken"]:
            _forget_relation(st, rid)
    for cid, ctx in list(st["contexts"].items()):
        if ctx["unit"] == unit:
            del st["contexts"][cid]
    for secret in st.get("secrets", {}).values():
        secret.get("consumers", {}).pop(unit, None)
    if a["leader"] == unit:
        a["leader"] = None
        elect_leader(st, app)


def elect_leader(st, app):
    a = st["applications"][app]
    candidates = sorted(alive_units(st, app), key=unit_number)
    if candidates:
        a["leader"] = candidates[0]
        enqueue(st, candidates[0], "leader-elected")


def set_config(st, app, changes, reset=()):
    a = app_of(st, app)
    options = a["charm"]["options"]
    before = effective_config(options, a["config"])
    for key in reset:
        if key not in options:
            raise SimError('unknown option "%s"' % key)
        a["config"].pop(key, None)
    for key, value in changes.items():
        if key not in options:
            raise SimError('unknown option "%s"' % key)
        a["config"][key] = value
    if effective_config(options, a["config"]) != before:
        for unit in alive_units(st, app):
            enqueue(st, unit, "config-changed")


def leader_settings_changed(st, app, writer):
    for unit in alive_units(st, app):
        if unit != writer:
            enqueue(st, unit, "leader-settings-changed")


def upgrade_charm(st, app, charm, charm_src):
    a = app_of(st, app)
    old = a["charm"]
    a["charm"] = charm
    a["charm_src"] = charm_src
    a["charm_rev"] += 1
    # options that no longer exist are dropped, like Juju
    a["config"] = {k: v for k, v in a["config"].items() if k in charm["options"]}
    for name, ep in charm["endpoints"].items():
        if ep["role"] == "peers" and name not in old["endpoints"]:
            rel = _new_relation(st, [{"app": app, "endpoint": name, "role": "peers",
                                      "interface": ep["interface"]}], peer=True)
            for unit in alive_units(st, app):
                _enter(st, rel, unit)
            units = alive_units(st, app)
            for i, x in enumerate(units):
                for y in units[i + 1:]:
                    _pair(st, rel, x, y)
    for unit in alive_units(st, app):
        enqueue(st, unit, None, kind="deploy-charm", rev=a["charm_rev"], src=charm_src)
        enqueue(st, unit, "upgrade-charm")
        enqueue(st, unit, "config-changed")


# --------------------------------------------------------------------------
# running events

def claim_next(st, max_running=1):
    """Pops the next runnable event (FIFO over the whole model); marks it running."""
    if st["destroying"]:
        return None
    running = sum(1 for u in st["units"].values() if u["running"])
    if running >= max_running:
        return None
    best = None
    for unit, u in st["units"].items():
        if u["running"] or not u["queue"]:
            continue
        for idx, ev in enumerate(u["queue"]):
            if u["error"] and ev["kind"] not in ("action", "exec"):
                continue
            if u.get("series_lock") and ev["kind"] not in ("action", "exec") \
                    and ev.get("hook") != "post-series-upgrade":
                continue   # prepared for a series upgrade: the agent runs no hooks
            if best is None or ev["seq"] < best[2]["seq"]:
                best = (unit, idx, ev)
            break
    if best is None:
        return None
    unit, idx, ev = best
    u = st["units"][unit]
    u["queue"].pop(idx)
    if ev.get("rid") and ev["rid"] not in st["relations"]:
        return claim_next(st, max_running)  # relation gone meanwhile: drop the event
    u["running"] = ev
    _on_dispatch(st, unit, ev)
    return unit, ev


def _on_dispatch(st, unit, ev):
    u = st["units"][unit]
    hook = ev.get("hook") or ""
    if ev["kind"] == "hook":
        u["agent"] = {"status": "executing", "message": 'running %s hook' % hook, "since": now()}
        if hook == "install" and u["workload"]["status"] == "waiting":
            u["workload"] = {"status": "maintenance", "message": "installing charm software",
                             "since": now()}
    if hook == "post-series-upgrade":
        u.pop("series_lock", None)
    if ev["kind"] in ("action", "exec"):
        u["agent"] = {"status": "executing", "message": "running action %s" % (
            ev.get("name") or "exec"), "since": now()}
    rel = st["relations"].get(ev.get("rid") or "")
    if rel is None:
        return
    scope = rel["scope"]
    if hook.endswith("-relation-created"):
        scope.setdefault(unit, [])
    elif hook.endswith("-relation-joined"):
        members = scope.setdefault(unit, [])
        if ev["remote_unit"] not in members:
            members.append(ev["remote_unit"])
            members.sort(key=lambda x: (unit_app(x), unit_number(x)))
    elif hook.endswith("-relation-departed"):
        if ev["remote_unit"] in scope.get(unit, []):
            scope[unit].remove(ev["remote_unit"])
    elif hook.endswith("-relation-broken"):
        if unit in scope:
            scope[unit] = []


def new_context(st, unit, ev):
    st["counters"]["context"] += 1
    cid = "%s-%s-%d" % (unit, ev.get("hook") or ev.get("name") or ev["kind"],
                        st["counters"]["context"])
    st["contexts"][cid] = {
        "unit": unit, "kind": ev["kind"], "hook": ev.get("hook"),
        "rid": ev.get("rid"), "remote_unit": ev.get("remote_unit"),
        "remote_app": ev.get("remote_app"), "action_id": ev.get("action_id"),
        "rel_unit": {}, "rel_app": {}, "ports": [], "secret_ops": [],
    }
    return cid


def _apply(cur, changes):
    new = dict(cur)
    for key, value in changes.items():
        if value is None or value == "":
            new.pop(key, None)
        else:
            new[key] = value
    return new


def _commit_settings(st, unit, pending, app_level):
    """Publishes a hook's relation-set calls; queues relation-changed where they show."""
    app = unit_app(unit)
    for rid, changes in pending.items():
        rel = st["relations"].get(rid)
        if rel is None:
            continue
        store = rel["app_settings"] if app_level else rel["settings"]
        owner = app if app_level else unit
        cur = store.get(owner, {})
        new = _apply(cur, changes)
        if new == cur:
            continue
        store[owner] = new
        if rel["dying"]:
            continue
        for other in rel_other_units(st, rel, unit):
            if st["units"][other]["dying"]:
                continue
            scope = rel["scope"].get(other, [])
            if app_level and any(unit_app(x) == app for x in scope):
                _rel_hook(st, other, rel, "changed", remote_unit="")
            elif not app_level and unit in scope:
                _rel_hook(st, other, rel, "changed", remote_unit=unit)


def commit_context(st, cid):
    """A hook (or action) ended well: publish its relation settings and ports."""
    ctx = st["contexts"].pop(cid, None)
    if ctx is None:
        return
    unit = ctx["unit"]
    _commit_settings(st, unit, ctx["rel_unit"], app_level=False)
    _commit_settings(st, unit, ctx["rel_app"], app_level=True)
    commit_secrets(st, unit, ctx.get("secret_ops") or [])
    u = st["units"].get(unit)
    if u is not None:
        ports = list(u["ports"])
        for op, spec in ctx["ports"]:
            if op == "open" and spec not in ports:
                ports.append(spec)
            elif op == "close" and spec in ports:
                ports.remove(spec)
        u["ports"] = ports


def finish_event(st, unit, ev, ok, cid):
    """Bookkeeping after an event ran. Returns the unit's error state (bool)."""
    u = st["units"].get(unit)
    if u is None:
        st["contexts"].pop(cid, None)
        return False
    u["running"] = None
    hook = ev.get("hook") or ""
    if ev["kind"] == "hook" and not ok:
        st["contexts"].pop(cid, None)
        u["error"] = ev
        u["agent"] = {"status": "error", "message": 'hook failed: "%s"' % hook, "since": now()}
        return True
    if cid:
        commit_context(st, cid)
    if ev["kind"] == "hook":
        _after_hook(st, unit, ev)
    u["agent"] = {"status": "idle", "message": "", "since": now()}
    return False


def _after_hook(st, unit, ev):
    u = st["units"][unit]
    hook = ev.get("hook") or ""
    if hook == "pre-series-upgrade":
        u["series_lock"] = True
    if hook == "start":
        u["started"] = True
        if u["workload"]["status"] == "maintenance" and \
                u["workload"]["message"] == "installing charm software":
            u["workload"] = {"status": "unknown", "message": "", "since": now()}
    rel = st["relations"].get(ev.get("rid") or "")
    if rel is not None and hook.endswith("-relation-broken"):
        rel["scope"].pop(unit, None)
        if unit not in rel["left"]:
            rel["left"].append(unit)
        if unit in rel["pending_broken"]:
            rel["pending_broken"].remove(unit)
        if rel["dying"] and not rel["pending_broken"]:
            _forget_relation(st, str(rel["id"]))


def resolve(st, unit, retry=True):
    u = unit_of(st, unit)
    ev = u["error"]
    if not ev:
        raise SimError('unit "%s" is not in an error state' % unit)
    u["error"] = None
    u["agent"] = {"status": "idle", "message": "", "since": now()}
    if retry:
        st["counters"]["seq"] += 1
        ev = dict(ev)
        # runs before everything else queued for this unit
        ev["seq"] = min([e["seq"] for e in u["queue"]] + [st["counters"]["seq"]]) - 0.5
        u["queue"].insert(0, ev)
    else:
        _after_hook(st, unit, ev)


# --------------------------------------------------------------------------
# series upgrades (juju upgrade-series MACHINE prepare SERIES / complete; Juju 3:
# juju upgrade-machine MACHINE prepare BASE / complete)

def upgrade_series_prepare(st, unit, series):
    """Queues pre-series-upgrade on every unit of the machine (subordinates first,
    then the principal); a unit whose hook ran runs no other hook until `complete`.
    Returns the machine's units."""
    units = machine_units(st, unit)
    principal = units[0]
    pu = st["units"][principal]
    if pu.get("series_upgrade"):
        raise SimError('upgrade series lock found for machine "%s"; a series upgrade is in '
                       'progress (to %s)' % (pu["machine"], pu["series_upgrade"]["to"]))
    if series == pu.get("series", SERIES):
        raise SimError('machine "%s" is already running series "%s"' % (pu["machine"], series))
    pu["series_upgrade"] = {"from": pu.get("series", SERIES), "to": series, "started": now()}
    for u in units[1:] + units[:1]:
        enqueue(st, u, "pre-series-upgrade")
    return units


def upgrade_series_complete(st, unit):
    """The operator upgraded the OS: the machine's series changes and every unit on it
    runs post-series-upgrade before anything else it has queued. Returns the units."""
    units = machine_units(st, unit)
    pu = st["units"][units[0]]
    up = pu.get("series_upgrade")
    if not up:
        raise SimError('upgrade series lock not found for machine "%s": run prepare first'
                       % pu["machine"])
    waiting = [u for u in units if not st["units"][u].get("series_lock")]
    if waiting:
        raise SimError('machine "%s" has not finished preparing: pre-series-upgrade has not '
                       'completed on %s' % (pu["machine"], ", ".join(waiting)))
    for u in units:
        st["units"][u]["series"] = up["to"]
    del pu["series_upgrade"]
    for u in units[1:] + units[:1]:
        q = st["units"][u]["queue"]
        st["counters"]["seq"] += 1
        ev = {"kind": "hook", "hook": "post-series-upgrade",
              "seq": min([e["seq"] for e in q] + [st["counters"]["seq"]]) - 0.5}
        q.insert(0, ev)
    return units


# --------------------------------------------------------------------------
# secrets (Juju 3): owned by an application (managed by its leader, readable by its
# units) or by one unit; read by consumers that were granted access over a relation

SECRET_ID_CHARS = "0123456789abcdefghijklmnopqrstuv"   # Juju's ids: 20 chars, base32hex


def new_secret_id():
    import secrets as _random
    return "".join(_random.choice(SECRET_ID_CHARS) for _ in range(20))


def secret_uri(sid):
    return "secret:" + sid


def parse_secret_ref(ref):
    """'secret:ID', 'secret://MODEL/ID' or 'ID' -> ID."""
    m = re.match(r"^(?:secret:(?://[^/]+/)?)?([0-9a-v]{20})$", ref or "")
    if not m:
        raise SimError('secret URI "%s" not valid' % ref)
    return m.group(1)


def apply_secret_op(secrets, op):
    """Applies one pending operation; returns the secret id when a new revision was made."""
    sid = op["id"]
    if op["op"] == "add":
        secrets[sid] = {"id": sid, "owner": op["owner"], "label": op.get("label") or "",
                        "description": op.get("description") or "",
                        "expire": op.get("expire"), "rotate": op.get("rotate"),
                        "revision": 1, "contents": {"1": dict(op["content"])},
                        "grants": [], "consumers": {}, "created": now()}
        return None
    secret = secrets.get(sid)
    if secret is None:
        return None
    if op["op"] == "set":
        for key in ("label", "description", "expire", "rotate"):
            if op.get(key) is not None:
                secret[key] = op[key]
        content = op.get("content")
        if content and content != secret["contents"].get(str(secret["revision"])):
            secret["revision"] += 1
            secret["contents"][str(secret["revision"])] = dict(content)
            return sid
    elif op["op"] == "grant":
        grant = {"rid": op["rid"], "app": op["app"], "unit": op.get("unit")}
        if grant not in secret["grants"]:
            secret["grants"].append(grant)
    elif op["op"] == "revoke":
        secret["grants"] = [g for g in secret["grants"] if not (
            (op.get("rid") is None or g["rid"] == op["rid"])
            and (op.get("app") is None or g["app"] == op["app"])
            and (op.get("unit") is None or g.get("unit") == op["unit"]))]
    elif op["op"] == "remove":
        rev = op.get("revision")
        if rev is None or (len(secret["contents"]) == 1 and str(rev) in secret["contents"]):
            del secrets[sid]
        else:
            secret["contents"].pop(str(rev), None)
    elif op["op"] == "track":
        entry = secret["consumers"].setdefault(op["unit"], {"revision": op["revision"],
                                                            "label": ""})
        entry["revision"] = op["revision"]
        if op.get("label"):
            entry["label"] = op["label"]
    return None


def secrets_view(st, ops_list):
    """The model's secrets as a hook sees them: committed ones plus its own pending ops."""
    import copy
    view = copy.deepcopy(st.get("secrets") or {})
    for op in ops_list:
        apply_secret_op(view, op)
    return view


def commit_secrets(st, unit, ops_list):
    secrets = st.setdefault("secrets", {})
    changed = []
    for op in ops_list:
        sid = apply_secret_op(secrets, op)
        if sid and sid not in changed:
            changed.append(sid)
    for sid in changed:
        secret = secrets.get(sid)
        if not secret:
            continue
        for consumer, entry in secret["consumers"].items():
            cu = st["units"].get(consumer)
            if cu is None or cu["dying"] or entry["revision"] >= secret["revision"]:
                continue
            enqueue(st, consumer, "secret-changed", secret_id=secret_uri(sid),
                    secret_label=entry.get("label") or "")
