"""Throttling of failed credentials: admin logins and Basic credentials per user name and
per source address, bad machine and auth tokens per source address.

Per source weighs more than per user: a source gets few free failures and blocks
of up to 5 minutes, while a user name gets more free failures and blocks of at
most 30 s, so an attacker elsewhere cannot hold the admin's name for long. And a
source that logged in as a user in the last 30 days is not held by that user's
per-user block at all: only its own failures stop it. A success resets both
counters. IPv6 sources count per /64 (one host owns a /64 at least).

State is in memory, per process (so per unit), in bounded LRUs: see throttle.py.
Client tokens count apart from admin credentials, so a fleet's stale machines
behind one NAT never block the admin, and get more free failures (their tokens
are unguessable; the limit only spares the database).
"""

import functools
import ipaddress
import logging
import math
import time
from dataclasses import replace

from flask import request

from .context import services
from .errors import TooManyAttempts
from .logs import log_fields
from .throttle import Backoff, Policy, Recent

ADMIN_SOURCE = Policy(free=5, base=1.0, cap=300.0, forget=900.0)
ADMIN_USER = Policy(free=10, base=1.0, cap=30.0, forget=900.0)
CLIENT_SOURCE = Policy(free=20, base=1.0, cap=60.0, forget=900.0)
# The option auth_throttle_free_failures sets ADMIN_SOURCE.free (e.g. for an office
# behind one NAT address); the other two keep their ratio to it.
DEFAULT_FREE = ADMIN_SOURCE.free
MAX_KEYS = 10_000  # per counter
KNOWN_SOURCES = 1_000  # (user, source) pairs that logged in
KNOWN_FOR = 30 * 86400.0
USER_KEY_LENGTH = 65  # longer names can never be valid (auth_users: 1-64); they share keys

security_log = logging.getLogger("livepatch.security")


class Throttled(Exception):
    def __init__(self, retry_after, limit):
        super().__init__(f"throttled ({limit}) for {retry_after:.1f} s")
        self.retry_after = retry_after
        self.limit = limit  # "source" or "user"


@functools.lru_cache(maxsize=4096)  # every client request asks; addresses are short
def source_key(address):
    """The counter key of an address: itself, or its /64 for IPv6."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


class Attempt:
    """One check of credentials, admitted by every counter it involves. Settle it with
    failed() or succeeded(); leaving the `with` block unsettled abandons it."""

    def __init__(self, guard, counters, known):
        self.guard = guard
        self.counters = counters  # [(Backoff, key)]
        self.known = known  # (user, source) to remember on success, or None
        self.settled = False

    def failed(self):
        self.settled = True
        return max([backoff.fail(key) for backoff, key in self.counters] or [0])

    def succeeded(self):
        self.settled = True
        for backoff, key in self.counters:
            backoff.succeed(key)
        if self.known:
            self.guard.known.add(self.known)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if not self.settled:
            self.settled = True
            for backoff, key in self.counters:
                backoff.abandon(key)
        return False


def _scaled(policy, free_failures):
    return replace(policy, free=policy.free * free_failures // DEFAULT_FREE)


class AuthThrottle:
    def __init__(self, clock=time.monotonic, free_failures=DEFAULT_FREE):
        self.admin_sources = Backoff(_scaled(ADMIN_SOURCE, free_failures), MAX_KEYS, clock)
        self.admin_users = Backoff(_scaled(ADMIN_USER, free_failures), MAX_KEYS, clock)
        self.client_sources = Backoff(_scaled(CLIENT_SOURCE, free_failures), MAX_KEYS, clock)
        self.known = Recent(KNOWN_SOURCES, KNOWN_FOR, clock)

    def begin(self, scope, source, user=None):
        """An Attempt for `scope` ("admin" or "client"), or Throttled."""
        source = source_key(source or "")
        if scope == "client":
            wanted = [(self.client_sources, source, "source")]
        else:
            wanted = [(self.admin_sources, source, "source")]
        known = None
        if user is not None:
            user = user[:USER_KEY_LENGTH]
            known = (user, source)
            if known not in self.known:
                wanted.append((self.admin_users, user, "user"))
        admitted = []
        for backoff, key, limit in wanted:
            wait = backoff.begin(key)
            if wait:
                for done, done_key in admitted:
                    done.abandon(done_key)
                raise Throttled(wait, limit)
            admitted.append((backoff, key))
        return Attempt(self, admitted, known)


def attempt(scope, user=None):
    """The request's Attempt; a throttled one is logged and answered 429 too-many-attempts."""
    source = request.remote_addr or ""
    try:
        return services().auth_throttle.begin(scope, source, user)
    except Throttled as exc:
        retry_after = max(1, math.ceil(exc.retry_after))
        fields = {"user": user[:64]} if user is not None else {}
        log_fields(security_log, logging.WARNING, "auth_throttled", type="security", event="auth_throttled",
                   scope=scope, limit=exc.limit, source=source, retry_after=retry_after,
                   method=request.method, path=request.url_rule.rule if request.url_rule else "unmatched",
                   **fields)
        raise TooManyAttempts(retry_after) from None
