"""Bounded in-flight work, in waitress's task dispatcher.

`concurrency_limit` worker threads run requests. A connection with a request ready
waits in waitress's queue while they are busy, holding no thread; up to
`burst_limit` such connections wait. One more is refused at once: its requests are
marked `Overloaded` and handed to one of REFUSERS small threads, which answer 503
`overloaded` with Retry-After (serve._JsonErrorTask) and close the connection,
without the app running. So the process has concurrency_limit + REFUSERS request
threads whatever the burst, and a request holds a thread only while the app runs: a
download from a file (wsgi.file_wrapper) is sent by waitress's event loop.
"""

import threading
from collections import deque

from waitress.task import ThreadedTaskDispatcher
from waitress.utilities import Error

REFUSERS = 2


class Overloaded(Error):
    code = 503
    reason = "Service Unavailable"
    api_code = "overloaded"
    retry_after = 1

    def __init__(self):
        super().__init__("the server is busy, retry shortly")


class BoundedDispatcher(ThreadedTaskDispatcher):
    def __init__(self, burst, on_overload=None):
        super().__init__()
        self.burst = burst
        self.on_overload = on_overload
        self.refusals = deque()
        self.refusal_cv = threading.Condition(self.lock)
        self.stopping = False
        for number in range(REFUSERS):
            threading.Thread(target=self._refuse_loop, name=f"waitress-refuser-{number}", daemon=True).start()

    def add_task(self, task):
        with self.lock:
            idle = len(self.threads) - self.stop_count - self.active_count
            waiting = len(self.queue) - max(idle, 0)  # those that will wait for a thread
            if waiting < self.burst or not getattr(task, "requests", None):
                self.queue.append(task)
                self.queue_cv.notify()
                return
            for request in task.requests:  # the task is a channel not in service: none runs
                request.error = Overloaded()
            self.refusals.append(task)
            self.refusal_cv.notify()
        if self.on_overload:
            self.on_overload()

    def _refuse_loop(self):
        while True:
            with self.lock:
                while not self.refusals and not self.stopping:
                    self.refusal_cv.wait()
                if self.stopping:
                    return
                channel = self.refusals.popleft()
            try:
                channel.service()  # error tasks only: each writes its 503 and closes
            except BaseException:
                self.logger.exception("Exception when refusing %r", channel)

    def shutdown(self, cancel_pending=True, timeout=5):
        with self.lock:
            self.stopping = True
            self.refusal_cv.notify_all()
        return super().shutdown(cancel_pending, timeout)
