"""Patch byte storage behind one interface, two backends.

A store writes incoming bytes somewhere invisible (`save`), hashing and sizing
them as they stream; the patch becomes visible only when its row in `patches`
commits, pointing at the stored key (see livepatch_app/ingest.py). So an
interrupted or failed upload leaves nothing a client can see, and unreferenced
bytes are swept by `sweep`.

Interface of both backends:
  save(stream, max_bytes=None, name=None) -> Stored(key, sha256, size)
  open(key, start=0, end=None) -> iterator of bytes [start, end); FileNotFoundError if absent
  delete(key)                      (absent keys are fine)
  sweep(cur, older_than_minutes)   -> number of unreferenced blobs/files removed
  holds(key)                       -> whether the key is this store's own kind
"""

import hashlib
from dataclasses import dataclass

from ..errors import TooLarge

CHUNK = 1024 * 1024


@dataclass
class Stored:
    key: str
    sha256: str
    size: int


class HashingReader:
    """Reads a stream in FULL chunks (only the last may be short), hashing,
    counting, and refusing past max_bytes. Full chunks matter: the postgres
    store finds a byte offset by chunk arithmetic, and network or WSGI streams
    may return short reads."""

    def __init__(self, stream, max_bytes):
        self.stream = stream
        self.max_bytes = max_bytes
        self.digest = hashlib.sha256()
        self.size = 0
        self._pending = b""  # bytes a stream returned beyond what was asked

    def _read_full(self, size):
        parts, have = [self._pending], len(self._pending)
        while have < size:
            data = self.stream.read(size - have)
            if not data:
                break
            parts.append(data)
            have += len(data)
        data = b"".join(parts)
        data, self._pending = data[:size], data[size:]
        return data

    def chunks(self, size=CHUNK):
        while True:
            data = self._read_full(size)
            if not data:
                return
            self.size += len(data)
            if self.max_bytes is not None and self.size > self.max_bytes:
                raise TooLarge(f"the upload is larger than the limit of {self.max_bytes} bytes", "upload-too-large")
            self.digest.update(data)
            yield data

    def drain(self):
        """Hashes and counts the whole stream without keeping it."""
        for _ in self.chunks():
            pass
        return self

    @property
    def sha256(self):
        return self.digest.hexdigest()


def file_chunks(handle, start=0, end=None):
    """Yields bytes [start, end) of an open binary file, CHUNK at a time; closes it."""
    with handle:
        handle.seek(start)
        remaining = None if end is None else end - start
        while remaining is None or remaining > 0:
            data = handle.read(CHUNK if remaining is None else min(CHUNK, remaining))
            if not data:
                return
            if remaining is not None:
                remaining -= len(data)
            yield data


def make_store(config, db):
    """The configured store; it also reads the other kind's keys (a `blob:<n>` key in
    PostgreSQL, a file key in filestore_path): while the charm moves patches onto
    another store (storage/adopt.py), a patch points at its new copy before this
    service restarts on the new config, and must still download."""
    from .filesystem import FilesystemStore
    from .postgres import PostgresStore

    if config.store_type == "filesystem":
        return FilesystemStore(config.filestore_path, fallback=PostgresStore(db))
    return PostgresStore(db, fallback=FilesystemStore(config.filestore_path))
