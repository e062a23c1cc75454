"""Service control: systemd for the livepatch unit, and the HTTP health check."""

import http.client
import json
import time

from . import paths, validation
from .system import run

# systemctl stop and restart wait for the server's drain (systemd kills it at TimeoutStopSec).
STOP_WAIT = validation.DRAIN_MAX_SECONDS + 120


def systemctl(*args):
    return run(["systemctl", *args])


def daemon_reload():
    systemctl("daemon-reload")


def enable():
    systemctl("enable", paths.SERVICE)


def restart():
    run(["systemctl", "restart", paths.SERVICE], timeout=STOP_WAIT)


def start():
    systemctl("start", paths.SERVICE)


def stop():
    run(["systemctl", "stop", paths.SERVICE], timeout=STOP_WAIT)


def disable():
    systemctl("disable", paths.SERVICE)


def is_active():
    try:
        systemctl("is-active", "--quiet", paths.SERVICE)
    except Exception:
        return False
    return True


class Health:
    """Outcome of one GET /debug/status: ok, or the reason it is not."""

    def __init__(self, ok, reason="", body=None):
        self.ok = ok
        self.reason = reason
        self.body = body or {}

    def __repr__(self):
        return f"Health(ok={self.ok}, reason={self.reason!r})"


def _host(address):
    # http.client reads "host:port" out of a bare IPv6 address; brackets stop that.
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


def check_health(address, port, timeout=3.0):
    """GET http://address:port/debug/status; healthy means HTTP 200."""
    connection = http.client.HTTPConnection(_host(address), port, timeout=timeout)
    try:
        connection.request("GET", "/debug/status", headers={"Accept": "application/json"})
        response = connection.getresponse()
        raw = response.read(65536)
    except (ConnectionRefusedError, http.client.RemoteDisconnected):
        return Health(False, "not listening")
    except TimeoutError:
        return Health(False, f"no answer within {timeout:g}s")
    except OSError as exc:
        return Health(False, exc.strerror or exc.__class__.__name__)
    finally:
        connection.close()
    try:
        body = json.loads(raw.decode("utf-8"))
    except ValueError:
        body = {}
    if response.status == 200:
        return Health(True, body=body)
    return Health(False, f"HTTP {response.status}" + _why(body), body)


def _why(body):
    if not isinstance(body, dict):
        return ""
    if body.get("database") not in (None, "OK"):
        return f": database {body['database']}"
    schema = body.get("schema")
    if isinstance(schema, dict) and schema.get("upgrade-required"):
        return ": schema upgrade required"
    return ""


def wait_healthy(address, port, timeout=30.0, interval=0.5):
    """Poll the health check until it passes or timeout runs out (after a restart)."""
    deadline = time.monotonic() + timeout
    while True:
        health = check_health(address, port)
        if health.ok or time.monotonic() >= deadline:
            return health
        time.sleep(interval)
