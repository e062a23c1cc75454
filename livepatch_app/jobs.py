"""Background duties of a server process, each in a daemon thread with its own
interval. Leader-only duties also take an advisory lock where they write, so
two units never run them at once whatever the leader flag says."""

import importlib
import logging
import threading

from .context import services

log = logging.getLogger("livepatch.jobs")


class Periodic(threading.Thread):
    def __init__(self, name, interval, action, first_delay=5.0):
        super().__init__(name=name, daemon=True)
        self.interval = interval
        self.action = action
        self.first_delay = first_delay
        self.stopping = threading.Event()
        self.wake = threading.Event()

    def run(self):
        delay = self.first_delay
        while not self.stopping.is_set():
            self.wake.wait(delay)
            self.wake.clear()
            if self.stopping.is_set():
                return
            try:
                self.action()
            except Exception:  # a failed run must not end the thread
                log.exception("background job %s failed", self.name)
            delay = self.interval

    def stop(self):
        self.stopping.set()
        self.wake.set()


# "module:function" of each area's job factory: factory(app) -> Periodic or None.
JOB_FACTORIES = [
    "livepatch_app.reports_cleanup:job",
    "livepatch_app.sync.scheduler:job",
    "livepatch_app.storage.sweeper:make_job",  # unreferenced patch bytes, cache expiry
]


def start_jobs(app):
    started = []
    for dotted in JOB_FACTORIES:
        module, _, func = dotted.partition(":")
        job = getattr(importlib.import_module(module), func)(app)
        if job is not None:
            job.start()
            started.append(job)
    services(app).jobs = {job.name: job for job in started}
    return started
