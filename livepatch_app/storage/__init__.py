"""Patch byte storage behind one interface, two backends.

A store writes incoming bytes somewhere invisible (`save`), hashing and sizing
them as they stream; the patch becomes visible only when its row in `patches`
commits, pointing at the stored key. So an interrupted or failed upload leaves
nothing a client can see, and unreferenced bytes are swept by `sweep`.
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
    """Reads a stream in chunks, hashing, counting, and refusing past max_bytes."""

    def __init__(self, stream, max_bytes):
        self.stream = stream
        self.max_bytes = max_bytes
        self.digest = hashlib.sha256()
        self.size = 0

    def chunks(self, size=CHUNK):
        while True:
            data = self.stream.read(size)
            if not data:
                return
            self.size += len(data)
            if self.max_bytes is not None and self.size > self.max_bytes:
                raise TooLarge(f"the upload is larger than the limit of {self.max_bytes} bytes", "upload-too-large")
            self.digest.update(data)
            yield data

    @property
    def sha256(self):
        return self.digest.hexdigest()


def make_store(config, db):
    if config.store_type == "filesystem":
        from .filesystem import FilesystemStore

        return FilesystemStore(config.filestore_path)
    from .postgres import PostgresStore

    return PostgresStore(db)
