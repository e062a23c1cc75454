"""Request bodies under waitress, per route (body_limits). Waitress by itself reads
every body whole, up to one server-wide size, before the app runs. Here:

- the route's rule is looked up as soon as the request head is in: a declared
  Content-Length past the route's limit is refused at once (413, before any body
  byte is read); a chunked body is cut where it passes the limit (413);
- JSON bodies (64 KiB at most) are still read whole before the app runs, as
  waitress does, so a slow sender holds no worker thread;
- an upload's body streams: the request goes to the app as soon as its head is in,
  and its bytes come off the socket only as the view reads them, through a
  BodyPipe. The view checks credentials first, so a refused upload's body is never
  read; `Expect: 100-continue` is answered when the view starts reading;
- a body the app did not read to its end (a refusal) is drained, at most
  DRAIN_BYTES for at most DRAIN_SECONDS, so that a client that writes its whole
  body before reading still gets the answer; then the connection is closed.

Waitress's parser, channel and task are subclassed; make_server (serve.py) wires
them in with the app's BodyRules.
"""

import time

from waitress import utilities
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.receiver import ChunkedReceiver
from waitress.task import WSGITask
from waitress.utilities import RequestEntityTooLarge

from .body_pipe import BodyPipe
from .errors import BadRequest, TooLarge

MIB = 1024 * 1024
DRAIN_BYTES = 8 * MIB
DRAIN_SECONDS = 5
# Chunk framing that carries no data is bounded too (waitress's own receiver
# keeps an unfinished chunk-size line or trailer whole, however long).
MAX_CHUNK_LINE = 1024
MAX_TRAILER = 64 * 1024


def framing_allowance(limit):
    """How many raw (chunk-framed) bytes a body of at most `limit` bytes may take."""
    return 2 * limit + 64 * 1024


class BoundedChunkedReceiver(ChunkedReceiver):
    def received(self, s):
        consumed = super().received(s)
        if len(self.control_line) > MAX_CHUNK_LINE or len(self.trailer) > MAX_TRAILER:
            self.error = utilities.BadRequest("a chunk-size line or the trailer is too long")
            self.all_chunks_received = True
        return consumed


class RouteBodyTooLarge(RequestEntityTooLarge):
    """Waitress's 413, carrying the route's error code and sentence."""

    def __init__(self, rule):
        super().__init__(rule.message)
        self.api_code = rule.code


class BodyParser(HTTPRequestParser):
    """One request. `rules` (BodyRules) and `channel` are set by BodyChannel."""

    rules = None
    channel = None
    rule = None
    pipe = None  # a body that streams to the app, or is being drained
    body_open = False  # the request went to the app while its body still arrives
    body_complete = False  # every body byte arrived, the framing intact
    framing_lost = False  # what follows cannot be parsed: it is dropped unread

    def received(self, data):
        if self.completed:
            return 0
        if self.body_rcv is None:  # the head
            consumed = super().received(data)
            if self.headers_finished:
                self._head_done()
            return consumed
        return self._buffered_body(data)

    def _head_done(self):
        if isinstance(self.error, RequestEntityTooLarge):
            self.error, self.completed = None, False  # waitress's own limit: the route's says more
        if self.error is not None or self.body_rcv is None:
            if self.error is not None and self.body_rcv is not None:
                self._drain_rest(self.content_length)
            return
        if self.chunked:
            self.body_rcv = BoundedChunkedReceiver(self.body_rcv.buf)
        self.rule = self.rules.for_request(self.command, self.path)
        if not self.chunked and self.content_length > self.rule.limit:
            self._refuse(self.content_length)
        elif self.rule.streams:
            pipe = BodyPipe(wake=self.channel.server.pull_trigger, on_first_read=self._first_read,
                            read_timeout=self.adj.channel_timeout)
            self._switch_to(pipe)
            self.completed = True  # to the app now: the body follows

    def _buffered_body(self, data):
        receiver = self.body_rcv
        consumed = receiver.received(data)
        self.body_bytes_received += consumed
        if receiver.error:
            self.error, self.completed = receiver.error, True
            self._linger()
        elif len(receiver) > self.rule.limit or self.body_bytes_received > framing_allowance(self.rule.limit):
            self._refuse(None)  # chunked: counted as it comes
        elif receiver.completed:
            self.completed = True
            if self.chunked:  # as waitress does: the app sees a length, not chunks
                self.headers["CONTENT_LENGTH"] = str(len(receiver))
        return consumed

    def _refuse(self, declared):
        self.error = RouteBodyTooLarge(self.rule)
        self.completed = True
        self._drain_rest(declared)

    def _drain_rest(self, declared):
        """Answered without the body: drop what follows, when little enough to be worth it."""
        self.completed = True
        if declared is not None and declared > DRAIN_BYTES:
            return  # the connection closes after the answer
        pipe = BodyPipe()
        pipe.close()
        self._switch_to(pipe)

    def _linger(self):
        """The framing is lost: drop whatever follows, for a while, then close."""
        if self.pipe is None:
            self._switch_to(BodyPipe())
        self.pipe.close()
        self.framing_lost = True
        self.body_open = True

    def _switch_to(self, pipe):
        old = self.body_rcv.buf
        self.body_rcv.buf = pipe  # the receivers append decoded bytes to .buf
        if old is not pipe:
            old.close()
        self.pipe = pipe
        self.body_open = True

    def body_received(self, data):
        """Body bytes that arrive after the request went to the app -> bytes consumed."""
        receiver, pipe = self.body_rcv, self.pipe
        if self.framing_lost:
            pipe.append(data)  # dropped, and counted
            consumed = len(data)
        else:
            consumed = receiver.received(data)
            self.body_bytes_received += consumed
            if receiver.error:
                pipe.fail(BadRequest("the chunked request body is malformed", "bad-request"))
                self._linger()
            elif receiver.completed:
                pipe.end()
                self.body_complete = True
                self.body_open = False
            elif self.rule is not None and (pipe.received > self.rule.limit or
                                            self.body_bytes_received > framing_allowance(self.rule.limit)):
                pipe.fail(TooLarge(self.rule.message, self.rule.code))
        if self.body_open and pipe.dropping and self.drain_spent():
            self.body_open = False
        return consumed

    def drain_spent(self):
        pipe = self.pipe
        return pipe.dropped > DRAIN_BYTES or (
            pipe.dropping_since is not None and time.monotonic() - pipe.dropping_since > DRAIN_SECONDS)

    def wants_bytes(self):
        return self.pipe.has_room()

    def _first_read(self):
        if self.expect_continue and self.channel is not None:
            self.channel.continue_from_task()


class BodyChannel(HTTPChannel):
    """A connection that hands streamed requests to the app before their body, and
    keeps reading that body (or draining it) meanwhile."""

    parser_class = BodyParser
    open_body = None  # the request whose body still arrives after it went to the app
    stop_reading = False  # a body ended mid-way: nothing after it can be parsed

    def received(self, data):
        if not data:
            return False
        with self.requests_lock:
            if self.will_close or self.stop_reading:
                return False
            while data:
                if self.open_body is not None:
                    consumed = self.open_body.body_received(data)
                    if not self.open_body.body_open:
                        self._body_ended()
                        if self.stop_reading:
                            break
                    if consumed >= len(data):
                        break
                    data = data[consumed:]
                    continue
                if self.close_when_flushed:
                    return False
                if self.request is None:
                    self.request = self.parser_class(self.adj)
                    self.request.channel = self
                request = self.request
                consumed = request.received(data)
                if (request.expect_continue and request.headers_finished and not request.completed
                        and not self.requests and not self.sent_continue):
                    self.send_continue()
                if request.completed:
                    self.sent_continue = False
                    self.request = None
                    if request.body_open:
                        self.open_body = request
                    elif request.error is not None and request.body_rcv is not None \
                            and not request.body_rcv.completed:
                        self.stop_reading = True  # refused with its body unread: nothing after it parses
                    if not request.empty:
                        self.requests.append(request)
                        if len(self.requests) == 1:
                            self.server.add_task(self)
                    if self.stop_reading:
                        break
                if consumed >= len(data):
                    break
                data = data[consumed:]
        return True

    def _body_ended(self):
        request, self.open_body = self.open_body, None
        if not request.body_complete:
            self.stop_reading = True  # closes once the answer is out

    # readable() and writable() run for every connection on every turn of waitress's
    # I/O loop: the common case (no body in flight) goes straight to waitress's.
    def readable(self):
        request = self.open_body
        if request is None and not self.stop_reading:
            return HTTPChannel.readable(self)
        if self.will_close:
            return False
        if request is not None:
            if request.pipe.dropping and request.drain_spent():  # a client that went quiet
                with self.requests_lock:
                    if self.open_body is request:
                        request.body_open = False
                        self._body_ended()
            else:
                return request.wants_bytes()
        if self.stop_reading:
            return False
        return super().readable()

    def writable(self):
        if self.open_body is None:
            return HTTPChannel.writable(self)
        if self.close_when_flushed and not self.total_outbufs_len:
            return False  # answered: drain the body, then close
        return super().writable()

    def handle_write(self):
        if self.open_body is not None and self.close_when_flushed and not self.will_close:
            self._flush_exception(self._flush_some)  # the answer goes out; the close waits for the drain
            return
        super().handle_write()

    def handle_close(self):
        request = self.open_body
        if request is not None:
            request.pipe.fail(BadRequest("the client closed the connection before the body ended", "bad-request"))
        super().handle_close()

    def continue_from_task(self):
        """100 Continue, sent from the worker thread when the view starts reading."""
        payload = b"HTTP/1.1 100 Continue\r\n\r\n"
        with self.outbuf_lock:
            self.outbufs[-1].append(payload)
            self.current_outbuf_count += len(payload)
            self.total_outbufs_len += len(payload)
            self._flush_exception(self._flush_some, do_close=False)
        self.server.pull_trigger()


class BodyTask(WSGITask):
    def build_response_header(self):
        request = self.request
        if getattr(request, "pipe", None) is not None and not request.body_complete:
            self.set_close_on_finish()  # the rest of the body is in the way of a next request
        return super().build_response_header()
