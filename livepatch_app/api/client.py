"""Client endpoints: enable a machine with an auth token, check in with the
machine token (report state, get the patch to apply), machine info, and the
public kernel support query.

Re-enabling a machine that is already enabled is allowed with any valid auth
token: it answers a NEW machine token (the old one stops working at once), the
machine moves to that auth token's tier, and it still counts once against the
token's machine limit. So a machine that lost its token can recover it, and a
copied token dies when its owner re-enables.

Log lines written here carry neither machine ids nor tokens: security lines
name the route template, not the path.
"""

import logging
import re

from flask import Blueprint, jsonify, request

from .. import context
from ..auth import bearer_token, security_log
from ..auth_throttle import attempt
from ..data import auth_tokens, check_ins, kernel_support, machines
from ..errors import APIError, BadRequest, Forbidden, Unauthorized
from ..log_paths import loggable_path
from ..logs import log_fields
from ..patchname import ARCHITECTURES, version_key
from ..tokens import new_token, token_hash
from .check_in import ARCH_ALIASES, offer_kernel, offers, parse_report
from .common import field, format_time, json_body
from .machine_fields import MACHINE_ID_RE

bp = Blueprint("client", __name__)

_LEGACY_INVALID = "Invalid Machine Token"


def _security(event, **fields):
    log_fields(security_log, logging.INFO, event, type="security", event=event,
               method=request.method, path=loggable_path(), source=request.remote_addr, **fields)


def _check_machine_id(machine_id):
    if not isinstance(machine_id, str) or not MACHINE_ID_RE.fullmatch(machine_id):
        raise BadRequest("the machine id must be 1-128 letters, digits or . _ : - "
                         "(usually the 32 hex digits of /etc/machine-id)", "invalid-machine-id")


# --- enable -------------------------------------------------------------------

def _usable_auth_token(cur, token, checking):
    """The auth token's row; a bad one counts against the source (auth_throttle.py)."""
    row = auth_tokens.lock_by_hash(cur, token_hash(token)) if token else None
    if row is None:
        reason, code, message = "unknown", "invalid-token", "the auth token is not valid"
    elif row["revoked_at"] is not None:
        reason, code, message = "revoked", "token-revoked", "the auth token has been revoked"
    elif row["expired"]:
        reason, code, message = "expired", "token-expired", "the auth token has expired"
    else:
        checking.succeeded()
        return row
    checking.failed()
    _security("client_enable_refused", reason=reason)
    raise Unauthorized(message, code)


def _sent_auth_token():
    token = bearer_token()
    if token is None:
        raise Unauthorized("send the auth token as 'Authorization: Bearer <token>'", "missing-credentials")
    return token


def _enable(machine_id, token):
    machine_token = new_token()
    with attempt("client") as checking, context.db().transaction() as cur:
        auth = _usable_auth_token(cur, token, checking)
        limit = auth["max_machines"]
        if limit is not None and machines.count_enabled_by_token(cur, auth["id"], machine_id) >= limit:
            _security("client_enable_refused", reason="machine limit reached")
            raise Forbidden(f"this auth token may enable at most {limit} machines, and all are in use",
                            "machine-limit-reached")
        machines.enable(cur, machine_id, token_hash(machine_token), auth["tier_id"], auth["id"])
    return jsonify({"machine-token": machine_token, "tier": auth["tier"]})


@bp.put("/v1/client/<machine_id>")
def enable(machine_id):
    _check_machine_id(machine_id)
    return _enable(machine_id, _sent_auth_token())


@bp.post("/api/machine-tokens")
def legacy_enable():
    token = _sent_auth_token()
    with attempt("client") as checking, context.db().transaction() as cur:
        _usable_auth_token(cur, token, checking)  # the credentials pass before the body is read
    machine_id = field(json_body(), "machine-id", required=True)
    _check_machine_id(machine_id)
    return _enable(machine_id, token)


# --- machine token ------------------------------------------------------------

def _machine(cur, machine_id, legacy, checking):
    """The machine owning the Bearer machine token, which must be `machine_id`. A token
    sent in vain counts against the source (auth_throttle.py)."""
    token = bearer_token()
    row = machines.find_by_token_hash(cur, token_hash(token)) if token else None
    if row is not None and row["machine_id"] == machine_id:
        checking.succeeded()
        return row
    if token is not None:
        checking.failed()
    mismatch = row is not None
    _security("client_auth_failed", reason="token of another machine" if mismatch else "unknown machine token")
    if token is None:  # no credentials at all: 401 on every path (older clients always send one)
        raise Unauthorized("send the machine token as 'Authorization: Bearer <token>'", "missing-credentials")
    if legacy:  # what older clients expect from this path for a token it refuses
        raise Forbidden(_LEGACY_INVALID, "invalid-machine-token")
    if mismatch:
        raise Forbidden("this machine token belongs to another machine", "machine-mismatch")
    raise Unauthorized("the machine token is not valid: enable the machine again", "invalid-token")


def _refuse(cur, machine_id, legacy, checking):
    """Raises the error that names why this check-in's credentials fail (_machine)."""
    _machine(cur, machine_id, legacy, checking)
    raise Unauthorized("the machine token is not valid: enable the machine again", "invalid-token")


def _check_in(machine_id, legacy):
    """One round trip when all is well: data/check_ins.py's statement checks the machine
    token, stores the report and finds the offer, committed before the answer is sent.
    Anything else goes the long way round, where credentials are judged before the
    body: a bad body with a bad token is a 401 or 403, not a 400."""
    _check_machine_id(machine_id)
    token = bearer_token()
    with attempt("client") as checking, context.db().autocommit() as cur:
        if token is None:
            _refuse(cur, machine_id, legacy, checking)
        try:
            report = parse_report(json_body())
        except APIError:
            _machine(cur, machine_id, legacy, checking)
            raise
        kernel, flavour = offer_kernel(report)
        row = check_ins.record(cur, machine_id, token_hash(token), report, kernel, flavour)
        if row is None:
            _refuse(cur, machine_id, legacy, checking)
        checking.succeeded()
    context.metrics().check_ins.inc(patch_state=report["patch_state"] or "not-reported", tier=row["tier"])
    template = context.config().url_template
    return jsonify({"patches": offers(row, template, None if template else request.host_url)})


@bp.post("/v1/client/<machine_id>/updates")
def check_in(machine_id):
    return _check_in(machine_id, legacy=False)


@bp.put("/api/machine/<machine_id>")
def legacy_check_in(machine_id):
    return _check_in(machine_id, legacy=True)


@bp.get("/v1/client/<machine_id>/info")
def info(machine_id):
    _check_machine_id(machine_id)
    with attempt("client") as checking, context.db().transaction() as cur:
        machine = _machine(cur, machine_id, False, checking)
    return jsonify({"machine-id": machine["machine_id"], "tier": machine["tier"],
                    "enabled": machine["enabled"], "last-check-in": format_time(machine["last_check_in"])})


# --- kernel support (public: the Pro client asks it before enabling) ----------

# "5.15", "5.15.0", "5.15.0-107", "5.15.0-107.117", each optionally "-<flavour>".
_KERNEL_QUERY_RE = re.compile(
    r"(?P<major>\d+)\.(?P<minor>\d+)"
    r"(?:\.(?P<patch>\d+)(?:-(?P<abi>\d+)(?:\.(?P<build>\d+))?)?)?"
    r"(?:-(?P<flavour>[a-z0-9]+(?:-[a-z0-9]+)*))?")


def _support(kernels, match):
    """supported | kernel-upgrade-required | unsupported, from the kernels that
    have patches for the flavour and architecture (none: unknown)."""
    if not kernels:
        return "unknown"
    series = (int(match["major"]), int(match["minor"]))
    base = f"{series[0]}.{series[1]}.{match['patch']}" if match["patch"] is not None else None
    abi = int(match["abi"]) if match["abi"] is not None else None
    build = int(match["build"]) if match["build"] is not None else None
    same_base = [(b, a, n) for b, a, n in kernels
                 if version_key(b)[:2] == series and (base is None or b == base)]
    if any((abi is None or a == abi) and (build is None or n == build) for _, a, n in same_base):
        return "supported"
    # Not supported as it runs, but a newer build of the same kernel is.
    if abi is not None and any((a, n) > (abi, -1 if build is None else build) for _, a, n in same_base):
        return "kernel-upgrade-required"
    return "unsupported"


@bp.get("/v1/api/kernels/supported")
def kernels_supported():
    values = {}
    for name in ("kernel-version", "flavour", "architecture"):
        values[name] = request.args.get(name, "").strip()
        if not values[name]:
            raise BadRequest(f"query parameter '{name}' is required", "missing-query")
    # codename and build-date are accepted and not needed: patches are per kernel.
    match = _KERNEL_QUERY_RE.fullmatch(values["kernel-version"])
    flavour = values["flavour"].lower()
    arch = ARCH_ALIASES.get(values["architecture"].lower(), values["architecture"].lower())
    if match is None or arch not in ARCHITECTURES or (match["flavour"] and match["flavour"] != flavour):
        return jsonify({"Supported": "unknown"})
    with context.db().transaction() as cur:
        kernels = kernel_support.kernels_with_patches(cur, flavour, arch)
    return jsonify({"Supported": _support(kernels, match)})
