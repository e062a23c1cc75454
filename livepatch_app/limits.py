"""Bounded in-flight work.

At most `concurrency_limit` requests run at once; up to `burst_limit` more wait
(a short, bounded wait) for a slot; anything beyond that is answered at once
with 503 and Retry-After instead of piling up in memory. Waitress gets enough
threads for both (see serve.py), so the refusal itself never queues.

A request holds its slot until its answer is sent, except an answer that is a
wsgi.file_wrapper (a download from a file): waitress sends that from its event
loop, with no worker thread, so the slot is free as soon as the app returns.
"""

import json
import threading

_BODY = json.dumps({"error": "the server is busy, retry shortly", "code": "overloaded"}).encode()


class ConcurrencyLimiter:
    def __init__(self, app, concurrency, burst, wait_timeout=10.0, on_overload=None):
        self.app = app
        self.slots = threading.Semaphore(concurrency)
        self.capacity = concurrency + burst
        self.wait_timeout = wait_timeout
        self.on_overload = on_overload
        self._admitted = 0
        self._lock = threading.Lock()

    def _refuse(self, start_response):
        if self.on_overload:
            self.on_overload()
        start_response("503 Service Unavailable", [
            ("Content-Type", "application/json"), ("Content-Length", str(len(_BODY))), ("Retry-After", "1")])
        return [_BODY]

    def __call__(self, environ, start_response):
        with self._lock:
            if self._admitted >= self.capacity:
                full = True
            else:
                full = False
                self._admitted += 1
        if full:
            return self._refuse(start_response)
        if not self.slots.acquire(timeout=self.wait_timeout):
            with self._lock:
                self._admitted -= 1
            return self._refuse(start_response)
        try:
            result = self.app(environ, start_response)
        except BaseException:
            self._leave()
            raise
        wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(wrapper, type) and isinstance(result, wrapper):
            # waitress sends a file_wrapper from its event loop, not from this thread,
            # and only recognises it unwrapped: the slot is free once the app returns.
            self._leave()
            return result
        return _ReleasingIterable(result, self._leave)

    def _leave(self):
        self.slots.release()
        with self._lock:
            self._admitted -= 1


class _ReleasingIterable:
    """Holds the slot until the response body is fully sent (streamed downloads too)."""

    def __init__(self, iterable, release):
        self.iterable = iterable
        self.release = release
        self._released = False
        if hasattr(iterable, "__len__"):
            self.__len__ = iterable.__len__

    def __iter__(self):
        return iter(self.iterable)

    def close(self):
        try:
            if hasattr(self.iterable, "close"):
                self.iterable.close()
        finally:
            if not self._released:
                self._released = True
                self.release()
