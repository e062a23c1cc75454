"""A charm's metadata.yaml, config.yaml and actions.yaml, as the simulator needs them."""

import os

from .model import SimError, STANDIN_DIR


def _load_yaml(path):
    import yaml  # imported here: hook tools import this module and must start fast
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return yaml.safe_load(f) or {}


def load_charm(charm_dir):
    """Returns {'name', 'endpoints', 'extra_bindings', 'options', 'actions', 'subordinate'}."""
    charm_dir = os.path.abspath(charm_dir)
    meta = _load_yaml(os.path.join(charm_dir, "metadata.yaml"))
    if meta is None:
        raise SimError("%s is not a charm: no metadata.yaml" % charm_dir)
    if not meta.get("name"):
        raise SimError("%s/metadata.yaml has no name" % charm_dir)
    endpoints = {}
    for role in ("provides", "requires", "peers"):
        for name, spec in (meta.get(role) or {}).items():
            spec = spec or {}
            if isinstance(spec, str):
                spec = {"interface": spec}
            if "interface" not in spec:
                raise SimError("%s: endpoint %s has no interface" % (meta["name"], name))
            endpoints[name] = {"role": role, "interface": spec["interface"],
                               "scope": spec.get("scope", "global")}
    if "juju-info" not in endpoints:
        # Juju gives every charm an implicit `juju-info` provides endpoint: what a
        # subordinate's juju-info requires endpoint relates to
        endpoints["juju-info"] = {"role": "provides", "interface": "juju-info",
                                  "scope": "global", "implicit": True}
    config = _load_yaml(os.path.join(charm_dir, "config.yaml")) or {}
    options = {}
    for key, spec in (config.get("options") or {}).items():
        spec = spec or {}
        typ = spec.get("type", "string")
        if typ not in ("string", "int", "float", "boolean"):
            raise SimError("%s: option %s has unknown type %r" % (meta["name"], key, typ))
        options[key] = {"type": typ, "default": spec.get("default"),
                        "description": spec.get("description", "")}
    actions = _load_yaml(os.path.join(charm_dir, "actions.yaml")) or {}
    return {
        "name": meta["name"],
        "dir": charm_dir,
        "endpoints": endpoints,
        "extra_bindings": list((meta.get("extra-bindings") or {}).keys()),
        "options": options,
        "actions": actions,
        "subordinate": bool(meta.get("subordinate")),
    }


def standin_dir(name, channel=None):
    """The stand-in charm for a charm name ('haproxy', 'cs:haproxy-61', 'ch:postgresql').

    A channel ('16/edge') picks a variant of the stand-in for that track when there
    is one (charms/<name>@<track>, e.g. postgresql@16); the plain folder is the
    default track. A track the stand-in has no variant for is an error, like a
    channel the store does not have."""
    base = name.split(":")[-1].rsplit("/", 1)[-1]
    candidates = [base]
    if "-" in base and base.rsplit("-", 1)[1].isdigit():
        candidates.append(base.rsplit("-", 1)[0])
    for cand in candidates:
        path = os.path.join(STANDIN_DIR, cand)
        if not os.path.exists(os.path.join(path, "metadata.yaml")):
            continue
        if not channel:
            return path
        track = str(channel).split("/")[0]
        variant = os.path.join(STANDIN_DIR, "%s@%s" % (cand, track))
        if os.path.exists(os.path.join(variant, "metadata.yaml")):
            return variant
        default = _default_track(path)
        if default is None or track in ("latest", default):
            return path
        raise SimError('stand-in "%s" has no track "%s" (tracks: %s)' % (
            cand, track, ", ".join(standin_tracks(cand))))
    return None


def _default_track(path):
    try:
        with open(os.path.join(path, "TRACK")) as f:
            return f.read().strip()
    except OSError:
        return None


def standin_tracks(name):
    tracks = []
    default = _default_track(os.path.join(STANDIN_DIR, name))
    if default:
        tracks.append(default)
    for entry in sorted(os.listdir(STANDIN_DIR)):
        if entry.startswith(name + "@"):
            tracks.append(entry.split("@", 1)[1])
    return tracks


def _option_type(options, key):
    if key not in options:
        raise SimError('unknown option "%s"' % key)
    return options[key]["type"]


def parse_option(options, key, raw):
    """A config value given on the command line, converted to the option's type."""
    typ = _option_type(options, key)
    if raw is None:
        return None
    if not isinstance(raw, str):
        return check_option_value(options, key, raw)
    try:
        if typ == "int":
            return int(raw)
        if typ == "float":
            return float(raw)
        if typ == "boolean":
            low = raw.strip().lower()
            if low in ("true", "yes", "y", "on", "1"):
                return True
            if low in ("false", "no", "n", "off", "0"):
                return False
            raise ValueError(raw)
    except ValueError:
        raise SimError('option "%s" expected %s, got "%s"' % (key, typ, raw))
    return raw


def check_option_value(options, key, value):
    """A value from a YAML file (bundle options, --config file)."""
    typ = _option_type(options, key)
    if value is None:
        return None
    ok = {
        "string": lambda v: isinstance(v, (str, int, float)) and not isinstance(v, bool),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
    }[typ](value)
    if not ok:
        if isinstance(value, str):
            return parse_option(options, key, value)
        raise SimError('option "%s" expected %s, got %r' % (key, typ, value))
    if typ == "string":
        return str(value)
    if typ == "float":
        return float(value)
    return value


def effective_config(options, values):
    """What config-get --all reports: set values over defaults, unset options as None."""
    out = {}
    for key, spec in options.items():
        out[key] = values[key] if key in values else spec.get("default")
    return out
