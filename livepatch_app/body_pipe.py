"""A bounded pipe for one request body: the server's I/O thread appends the bytes
as they arrive, the view reads them (wsgi.input). It holds at most CAPACITY bytes
unread: the I/O thread stops reading the socket while it is full (`has_room`), so
a body costs no more memory than that however large it is.

Once the reader is gone (`close`) or the body has failed (`fail`), arriving bytes
are dropped and counted (`dropped`, `dropping_since`): the server drains a
refused body for a while so the client can read the answer."""

import collections
import threading
import time

from .errors import APIError

CAPACITY = 256 * 1024


class BodyPipe:
    def __init__(self, wake=None, on_first_read=None, read_timeout=120):
        self._cond = threading.Condition()
        self._chunks = collections.deque()
        self._held = 0
        self._wake = wake  # tells the I/O thread there is room again
        self._on_first_read = on_first_read  # e.g. sends 100 Continue
        self._read_timeout = read_timeout
        self.received = 0  # body bytes that arrived (dropped ones too)
        self.ended = False  # the whole body arrived
        self.error = None  # what the reader gets instead of the rest
        self.closed = False  # the reader is gone
        self.dropped = 0
        self.dropping_since = None

    # --- the I/O thread -------------------------------------------------------

    def append(self, data):
        with self._cond:
            self.received += len(data)
            if self.closed or self.error is not None:
                self.dropped += len(data)
                return
            self._chunks.append(bytes(data))
            self._held += len(data)
            self._cond.notify_all()

    def has_room(self):
        return self.dropping or self._held < CAPACITY

    @property
    def dropping(self):
        return self.closed or self.error is not None

    def end(self):
        with self._cond:
            self.ended = True
            self._cond.notify_all()

    def fail(self, error):
        """The reader gets `error` (an APIError) instead of the rest of the body."""
        with self._cond:
            if self.error is None and not self.ended:
                self.error = error
                self._drop_held()
            self._cond.notify_all()

    def __len__(self):  # waitress's receivers ask their buffer for its length
        return self.received

    # --- the reader (a worker thread) ------------------------------------------

    def read(self, size=-1):
        if self._on_first_read is not None:
            first, self._on_first_read = self._on_first_read, None
            if self.received == 0:
                first()
        with self._cond:
            deadline = time.monotonic() + self._read_timeout
            while not self._chunks and not self.ended and self.error is None and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise APIError(f"no body bytes arrived for {self._read_timeout} s", "request-timeout", 408)
                self._cond.wait(left)
            if self.error is not None:
                raise self.error
            if not self._chunks:
                return b""
            was_full = self._held >= CAPACITY
            data = self._take(size)
        if was_full and self._wake is not None:
            self._wake()
        return data

    def _take(self, size):
        if size is None or size < 0:
            size = self._held
        parts, have = [], 0
        while self._chunks and have < size:
            chunk = self._chunks.popleft()
            if have + len(chunk) > size:
                chunk, rest = chunk[: size - have], chunk[size - have:]
                self._chunks.appendleft(rest)
            parts.append(chunk)
            have += len(chunk)
        self._held -= have
        return b"".join(parts)

    def readline(self, size=-1):
        line = b""
        while not line.endswith(b"\n") and (size is None or size < 0 or len(line) < size):
            data = self.read(1)
            if not data:
                break
            line += data
        return line

    def getfile(self):  # waitress hands this to the app as wsgi.input
        return self

    def close(self):
        """The reader is done: what is held and what still arrives is dropped."""
        with self._cond:
            self.closed = True
            self._drop_held()
            self._cond.notify_all()

    def _drop_held(self):
        self._chunks.clear()
        self._held = 0
        if self.dropping_since is None:
            self.dropping_since = time.monotonic()
