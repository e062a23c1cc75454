"""Streaming uploads: the file goes out in small reads (never whole in memory),
with a progress line on stderr when stderr is a terminal."""

import os
import sys
import time

import click

from .output import human_size

READ_SIZE = 1024 * 1024
REDRAW_SECONDS = 0.1


class ProgressFile:
    """A read-only file wrapper for requests' `data=`: its length makes requests send
    Content-Length, and each read of a block moves the progress line."""

    def __init__(self, handle, size, label, show=None):
        self.handle = handle
        self.size = size
        self.label = label
        self.show = sys.stderr.isatty() if show is None else show
        self.sent = 0
        self._drawn_at = 0.0

    def __len__(self):
        return self.size

    def read(self, amount=-1):
        # A read of "everything" would load the file: cap it.
        data = self.handle.read(amount if amount and 0 < amount <= READ_SIZE else READ_SIZE)
        self.sent += len(data)
        self._draw(final=not data)
        return data

    def _draw(self, final=False):
        if not self.show:
            return
        now = time.monotonic()
        if not final and now - self._drawn_at < REDRAW_SECONDS:
            return
        self._drawn_at = now
        percent = 100 if self.size == 0 else min(100, self.sent * 100 // self.size)
        click.echo(f"\r{self.label}: {percent:3d}% {human_size(self.sent)} of {human_size(self.size)}",
                   err=True, nl=False)

    def finish(self):
        if self.show:
            click.echo(err=True)  # end the progress line


def file_size(handle):
    return os.fstat(handle.fileno()).st_size
