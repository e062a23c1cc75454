"""Graceful stop: SIGTERM (or SIGINT) drains the waitress server instead of killing it.

On the signal the listening socket closes at once (new connections are refused;
haproxy's health check marks the unit down), idle keep-alive connections are
closed, and requests in flight, downloads to slow readers included, run to the
end of their response for up to `shutdown_drain_timeout` seconds. Then the
process exits 0; past the timeout it exits anyway, after a warning with the
number of requests it cut. A second signal cuts at once.

Runs waitress's own event loop (wasyncore) one pass at a time, in the main thread,
so the signal handler only sets a flag and wakes the loop through waitress's
trigger pipe (a plain write: safe in a signal handler).
"""

import logging
import signal
import time

from waitress import wasyncore

from .logs import log_fields

log = logging.getLogger("livepatch.serve")
_DRAIN_POLL = 0.1  # seconds between checks while draining


def in_flight(channel):
    """Whether a waitress channel has a request being received, run or sent."""
    return bool(channel.requests) or channel.request is not None or channel.total_outbufs_len > 0


class Drainer:
    def __init__(self, server, timeout, on_stop=None, clock=time.monotonic):
        self.server = server
        self.timeout = timeout
        self.on_stop = on_stop
        self.clock = clock
        self.stopping = False
        self.deadline = None

    def install_signal_handlers(self):
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum, frame):
        if self.stopping:  # a second signal: stop waiting
            self.deadline = 0.0
        self.stopping = True
        self.server.trigger.pull_trigger()

    def _poll(self, timeout):
        wasyncore.loop(timeout=timeout, map=self.server._map, use_poll=self.server.adj.asyncore_use_poll, count=1)

    def run(self):
        """Serve until a signal, then drain; -> the number of requests cut."""
        while not self.stopping:
            self._poll(self.server.adj.asyncore_loop_timeout)
        return self.drain()

    def drain(self):
        started = self.clock()
        if self.deadline is None:
            self.deadline = started + self.timeout
        # Stop listening (the server's own close() would also close the trigger the
        # worker threads wake this loop with).
        wasyncore.dispatcher.close(self.server)
        busy = self._sweep()
        log_fields(log, logging.INFO, "draining", in_flight=busy, timeout_seconds=self.timeout)
        if self.on_stop:
            self.on_stop()
        while self.server.active_channels and self.clock() < self.deadline:
            self._poll(_DRAIN_POLL)
            self._sweep()
        cut = sum(1 for channel in list(self.server.active_channels.values()) if in_flight(channel))
        level = logging.WARNING if cut else logging.INFO
        log_fields(log, level, "drained", cut=cut, seconds=round(self.clock() - started, 1))
        self._close(cut)
        return cut

    def _sweep(self):
        """Marks idle connections for closing; -> how many are in flight."""
        busy = 0
        for channel in list(self.server.active_channels.values()):
            if in_flight(channel):
                busy += 1
            elif not channel.will_close:
                channel.will_close = True  # the loop closes it on its next pass
        return busy

    def _close(self, cut):
        # Closing a channel wakes a worker blocked on its output (ClientDisconnected).
        for channel in list(self.server.active_channels.values()):
            channel.handle_close()
        self.server.task_dispatcher.shutdown(timeout=2 if cut else 5)
        wasyncore.close_all(self.server._map)
