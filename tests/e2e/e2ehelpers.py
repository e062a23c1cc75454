"""Helpers of the end-to-end tests (kept out of conftest.py: test modules import them)."""

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "jujusim", "tests"))

from simtesting import SKIP_REASON, Sim, free_subnet, skip_or_fail  # noqa: E402,F401

CHARM = os.path.join(ROOT, "build", "livepatch")
BUNDLE = os.path.join(ROOT, "bundle.yaml")
BUNDLE_DB = os.path.join(ROOT, "bundle-postgresql-db.yaml")
CONTRACT_TOKEN = "e2e-contract-token"
ADMIN, PASSWORD = "admin", "e2e-secret-pw"
PATCH = "livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2"
KERNEL = "5.15.0-107.117-generic"
SYNC_BLOCKED = ("blocked", "sync_token not set: run the get-resource-token action")
ATTACHED = ("active", "Attached (esm-apps,esm-infra,livepatch)")

# haproxy checks its backends every 2s: right after units restart it may still send a
# request to one it has not seen come back (502/503). A client retries; so do we.
RETRY_SECONDS = 20


@contextlib.contextmanager
def simulated_model(prefix, juju_version=None, ingress_offset=None, private_paths=()):
    """A fresh jujusim model on a free loopback /24 (Juju 2.9 unless juju_version says
    otherwise), destroyed (and deleted unless JUJUSIM_KEEP is set) afterwards whatever
    happened; skips or fails (see skip_or_fail) when the simulator or the built charm
    is missing. ingress_offset: every machine's ingress address is another address,
    forwarded to its own as a floating IP is. private_paths: more folders each unit
    has a private copy of (init --private-path), e.g. the legacy store /livepatch."""
    reason = skip_reason()
    if reason:
        skip_or_fail(reason)
    path = tempfile.mkdtemp(prefix=prefix)
    os.rmdir(path)
    sim = Sim(path, free_subnet())
    try:
        args = ["init", "--subnet", sim.subnet]
        if juju_version:
            args += ["--juju-version", juju_version]
        if ingress_offset:
            args += ["--ingress-offset", str(ingress_offset)]
        for private in private_paths:
            args += ["--private-path", private]
        sim.run(*args)
        yield sim
    finally:
        proc = sim.destroy()
        if not os.environ.get("JUJUSIM_KEEP"):
            shutil.rmtree(path, ignore_errors=True)
        assert proc.returncode == 0, "destroy left processes: %s" % proc.stderr


def skip_reason():
    if SKIP_REASON:
        return SKIP_REASON
    if not os.path.exists(os.path.join(CHARM, "metadata.yaml")):
        return "build/livepatch is missing: run `make build` (make test does)"
    if not shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin:/usr/bin"):
        return "haproxy is not installed (make system-deps)"
    return None


def unit_address(sim, unit):
    return sim.unit(unit)["public-address"]


def units_of(sim, app):
    return sim.status()["applications"][app]["units"]


def statuses(sim, app):
    return {u: (v["workload-status"]["current"], v["workload-status"]["message"])
            for u, v in units_of(sim, app).items()}


def subordinate_statuses(sim, principal_app, app):
    """{subordinate unit: (state, message)} of `app`'s units on `principal_app`'s machines."""
    out = {}
    for unit in units_of(sim, principal_app).values():
        for name, sub in (unit.get("subordinates") or {}).items():
            if name.startswith(app + "/"):
                out[name] = (sub["workload-status"]["current"], sub["workload-status"]["message"])
    return out


def leader(sim, app="livepatch"):
    return [u for u, v in units_of(sim, app).items() if v["leader"]][0]


def haproxy(sim):
    return "http://%s" % unit_address(sim, "haproxy/0")


def curl(url):
    """The bytes curl downloads (curl exits non-zero on HTTP errors)."""
    deadline = time.time() + RETRY_SECONDS
    while True:
        proc = subprocess.run(["curl", "-sSf", "--max-time", "30", url], capture_output=True)
        busy = b"error: 502" in proc.stderr or b"error: 503" in proc.stderr
        if proc.returncode == 0 or not busy or time.time() > deadline:
            break
        time.sleep(0.5)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def http(method, url, **kw):
    deadline = time.time() + RETRY_SECONDS
    while True:
        resp = requests.request(method, url, timeout=30, **kw)
        if resp.status_code not in (502, 503) or time.time() > deadline:
            return resp
        time.sleep(0.5)


def admin_users():
    from livepatch_app.auth_users import hash_password

    return "auth_basic_users=%s:%s" % (ADMIN, hash_password(PASSWORD, rounds=4))


def seed_flow(sim, contracts, upstream, app="livepatch"):
    """The legacy deployment guide's steps after `juju deploy`, as an operator types
    them: the units wait for a sync token; the operator configures the service, gives
    ubuntu-advantage its Pro token, waits for Attached and runs get-resource-token
    with no parameters on the leader; every unit then serves. Returns the action."""
    sim.wait(timeout=600)
    assert set(statuses(sim, app).values()) == {SYNC_BLOCKED}, statuses(sim, app)
    assert set(subordinate_statuses(sim, app, "ubuntu-advantage").values()) == {
        ("blocked", "No token configured")}
    sim.run("config", app, "url_template=%s/v1/patches/{filename}" % haproxy(sim), admin_users(),
            "sync_upstream=" + upstream.url)
    sim.run("config", "ubuntu-advantage", "token=" + CONTRACT_TOKEN, "contract_url=" + contracts.url)
    sim.wait()
    attached = subordinate_statuses(sim, app, "ubuntu-advantage")
    assert len(attached) == len(units_of(sim, app)) and set(attached.values()) == {ATTACHED}, attached
    assert set(statuses(sim, app).values()) == {SYNC_BLOCKED}
    result = sim.json("run-action", "%s/leader" % app, "get-resource-token")
    assert result["status"] == "completed", result
    sim.wait()
    for unit, (current, message) in statuses(sim, app).items():
        assert current == "active" and message.startswith("serving patches on :"), (unit, message)
    return result


def sync_now(sim):
    """An operator's `livepatch-admin sync trigger --wait`, through haproxy."""
    resp = http("POST", haproxy(sim) + "/v1/admin/sync/trigger", json={"wait": True},
                auth=(ADMIN, PASSWORD))
    assert resp.status_code == 200, resp.text
    return resp.json()
