"""Exponential backoff after failures, per key, in bounded memory (pure; no Flask).

A key (a source address, a user name) may fail `free` times; each failure from
then on blocks it for base, 2 x base, 4 x base ... up to `cap` seconds. While
blocked, `begin` refuses at once with the seconds left, so the caller spends
nothing on the attempt. Once a key has failed, attempts in flight count as
failures-to-be: at most `free - failures` run at once, and past the allowance
one probe at a time, so parallel guesses cannot all slip through between the
check and the failure. A clean key is never limited. A success forgets the key;
so does `forget` seconds without a failure.

Keys live in an LRU of at most `max_keys`: an attacker rotating names or
addresses evicts the oldest entries instead of growing memory.
"""

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    free: int  # failures allowed before the first block
    base: float  # first block, seconds
    cap: float  # longest block, seconds
    forget: float  # a key this long without a failure starts afresh, seconds

    def delay(self, failures):
        if failures < self.free:
            return 0.0
        return min(self.base * 2 ** min(failures - self.free, 32), self.cap)


class _Entry:
    __slots__ = ("failures", "pending", "blocked_until", "last_failure")

    def __init__(self):
        self.failures = 0
        self.pending = 0
        self.blocked_until = 0.0
        self.last_failure = 0.0


class Backoff:
    def __init__(self, policy, max_keys, clock=time.monotonic):
        self.policy = policy
        self.max_keys = max_keys
        self.clock = clock
        self._entries = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self):
        return len(self._entries)

    def _entry(self, key, now, create):
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            if entry.failures and now - entry.last_failure > self.policy.forget:
                entry.failures, entry.blocked_until = 0, 0.0
            return entry
        if not create:
            return None
        entry = self._entries[key] = _Entry()
        while len(self._entries) > self.max_keys:
            self._entries.popitem(last=False)
        return entry

    def begin(self, key):
        """0: go ahead (settle with fail, succeed or abandon); else the seconds to wait."""
        now = self.clock()
        with self._lock:
            entry = self._entry(key, now, create=True)
            if entry.failures == 0 or entry.failures + entry.pending < self.policy.free:
                entry.pending += 1
                return 0
            if now < entry.blocked_until:
                return entry.blocked_until - now
            if entry.failures >= self.policy.free and entry.pending == 0:
                entry.pending += 1  # the one probe after a block
                return 0
            return self.policy.base  # the allowance is in flight: wait for it to settle

    def fail(self, key):
        """A failed attempt; -> the seconds the key is now blocked for (0: not blocked)."""
        now = self.clock()
        with self._lock:
            entry = self._entry(key, now, create=True)
            entry.pending = max(entry.pending - 1, 0)
            entry.failures += 1
            entry.last_failure = now
            delay = self.policy.delay(entry.failures)
            if delay:
                entry.blocked_until = now + delay
            return delay

    def succeed(self, key):
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return
            if entry.pending > 1:  # others still in flight: keep their count, drop the failures
                entry.pending -= 1
                entry.failures, entry.blocked_until = 0, 0.0
            else:
                del self._entries[key]

    def abandon(self, key):
        """An attempt that ended without an answer either way (e.g. the database was down)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.pending = max(entry.pending - 1, 0)


class Recent:
    """A bounded set of keys, each remembered for `ttl` seconds after it was last added."""

    def __init__(self, max_keys, ttl, clock=time.monotonic):
        self.max_keys = max_keys
        self.ttl = ttl
        self.clock = clock
        self._added = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self):
        return len(self._added)

    def add(self, key):
        with self._lock:
            self._added[key] = self.clock()
            self._added.move_to_end(key)
            while len(self._added) > self.max_keys:
                self._added.popitem(last=False)

    def __contains__(self, key):
        with self._lock:
            added = self._added.get(key)
            if added is None:
                return False
            if self.clock() - added > self.ttl:
                del self._added[key]
                return False
            return True
