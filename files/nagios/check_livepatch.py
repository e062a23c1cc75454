#!/usr/bin/env python3
"""Nagios checks of the Livepatch on-prem server on this unit (NRPE runs them).

Standard library only: NRPE runs this as the nagios user with the machine's
python3, outside the charm's virtualenv. Nagios plugin conventions: one line of
output, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.

    check_livepatch.py service [--unit livepatch]
        the systemd unit is active (`systemctl is-active`)
    check_livepatch.py status --url http://ADDR:PORT
        GET /debug/status answers 200: the server runs, reaches its database and
        its schema is current (livepatch_app/api/ops.py answers 503 otherwise)
    check_livepatch.py schema --url http://ADDR:PORT
        the database schema is the one the code needs (/debug/status "schema":
        "upgrade-required"); CRITICAL while an upgrade is pending
    check_livepatch.py sync --url http://ADDR:PORT [--warn 2] [--crit 3]
        the last successful patch sync (of any unit) is at most WARN/CRIT sync
        intervals old (/metrics: livepatch_server_sync_enabled,
        livepatch_server_sync_interval_seconds,
        livepatch_server_sync_last_success_timestamp_seconds); OK when sync is off
"""

import argparse
import contextlib
import io
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
TIMEOUT = 10


class Result(Exception):
    def __init__(self, code, text):
        super().__init__(text)
        self.code, self.text = code, text


def _get(url, path):
    """(HTTP status, body text); a server that does not answer raises Result CRITICAL."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + path, timeout=TIMEOUT) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        raise Result(CRITICAL, "livepatch server at %s does not answer: %s"
                     % (url, getattr(exc, "reason", exc))) from None


def _status_body(url):
    code, text = _get(url, "/debug/status")
    try:
        body = json.loads(text)
    except ValueError:
        raise Result(CRITICAL, "/debug/status answered HTTP %d, not JSON" % code) from None
    return code, body


def check_service(args):
    proc = subprocess.run(["systemctl", "is-active", args.unit], capture_output=True, text=True)
    state = proc.stdout.strip() or proc.stderr.strip() or "unknown"
    if proc.returncode == 0:
        return OK, "%s is %s" % (args.unit, state)
    return CRITICAL, "%s is %s" % (args.unit, state)


def check_status(args):
    code, body = _status_body(args.url)
    if code == 200:
        schema = body.get("schema") or {}
        return OK, "/debug/status healthy (database %s, schema %s)" % (
            body.get("database"), schema.get("current"))
    if body.get("database") != "OK":
        return CRITICAL, "/debug/status HTTP %d: database %s" % (code, body.get("database"))
    message = (body.get("schema") or {}).get("message") or "unhealthy"
    return CRITICAL, "/debug/status HTTP %d: %s" % (code, message)


def check_schema(args):
    code, body = _status_body(args.url)
    schema = body.get("schema")
    if not schema:
        # The schema cannot be read without the database: the status check says why.
        return UNKNOWN, "schema unknown: database %s" % body.get("database")
    if schema.get("upgrade-required"):
        return CRITICAL, ("schema %s, code needs %s: run the schema-upgrade action on the leader"
                          % (schema.get("current"), schema.get("required")))
    return OK, "schema %s current" % schema.get("current")


def parse_metrics(text):
    """Prometheus text format -> {name: value} for the unlabelled samples."""
    values = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or "{" in line:
            continue
        parts = line.split()
        if len(parts) >= 2:
            try:
                values[parts[0]] = float(parts[1])
            except ValueError:
                pass
    return values


def check_sync(args, now=None):
    code, text = _get(args.url, "/metrics")
    if code != 200:
        return UNKNOWN, "/metrics answered HTTP %d" % code
    metrics = parse_metrics(text)
    if metrics.get("livepatch_server_sync_enabled", 0) != 1:
        return OK, "patch sync disabled"
    interval = metrics.get("livepatch_server_sync_interval_seconds")
    if not interval:
        return UNKNOWN, "sync enabled but its interval is not exported"
    last = metrics.get("livepatch_server_sync_last_success_timestamp_seconds")
    if last is None:
        return WARNING, "no successful patch sync recorded yet (interval %ds)" % interval
    age = (time.time() if now is None else now) - last
    text = "last successful sync %ds ago (interval %ds)" % (age, interval)
    if age > args.crit * interval:
        return CRITICAL, text + ", more than %g intervals" % args.crit
    if age > args.warn * interval:
        return WARNING, text + ", more than %g intervals" % args.warn
    return OK, text


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="check", required=True)
    s = sub.add_parser("service")
    s.add_argument("--unit", default="livepatch")
    s.set_defaults(run=check_service)
    for name, func in (("status", check_status), ("schema", check_schema), ("sync", check_sync)):
        s = sub.add_parser(name)
        s.add_argument("--url", required=True)
        s.set_defaults(run=func)
        if name == "sync":
            s.add_argument("--warn", type=float, default=2)
            s.add_argument("--crit", type=float, default=3)
    return p


def main(argv=None):
    usage = io.StringIO()
    try:
        with contextlib.redirect_stderr(usage), contextlib.redirect_stdout(usage):
            args = parser().parse_args(argv)
    except SystemExit:  # Nagios shows one line: argparse's usage would not be it
        print("UNKNOWN: bad arguments: %s" % (usage.getvalue().strip().splitlines() or [""])[-1])
        return UNKNOWN
    try:
        code, text = args.run(args)
    except Result as result:
        code, text = result.code, result.text
    except Exception as exc:  # a plugin that crashes must still say UNKNOWN, not exit 1
        code, text = UNKNOWN, "%s: %s" % (type(exc).__name__, exc)
    print("%s: %s" % (NAMES[code], text))
    return code


if __name__ == "__main__":
    sys.exit(main())
