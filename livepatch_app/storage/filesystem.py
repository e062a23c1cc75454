"""Patch bytes as files under `filestore_path`. Uploads are written to a hidden
staging folder, fsynced and renamed into place, so a half-written file never
carries a patch's name; the key is always a bare file name, never a path."""

import os
import secrets

from . import CHUNK, HashingReader, Stored

_STAGING = ".incoming"


class FilesystemStore:
    kind = "filesystem"

    def __init__(self, root):
        self.root = os.path.abspath(root)

    def _path(self, key):
        if not key or "/" in key or "\x00" in key or key.startswith("."):
            raise FileNotFoundError(key)
        return os.path.join(self.root, key)

    def save(self, stream, max_bytes=None, name=None):
        staging = os.path.join(self.root, _STAGING)
        os.makedirs(staging, exist_ok=True)
        temp = os.path.join(staging, secrets.token_hex(8))
        reader = HashingReader(stream, max_bytes)
        key = f"{secrets.token_hex(8)}-{name}" if name else secrets.token_hex(16)
        try:
            with open(temp, "wb") as out:
                for data in reader.chunks(CHUNK):
                    out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, self._path(key))
        except BaseException:
            try:
                os.unlink(temp)
            except FileNotFoundError:
                pass
            raise
        return Stored(key, reader.sha256, reader.size)

    def open(self, key, start=0, end=None):
        handle = open(self._path(key), "rb")
        return self._iterate(handle, start, end)

    @staticmethod
    def _iterate(handle, start, end):
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

    def delete(self, key):
        try:
            os.unlink(self._path(key))
        except FileNotFoundError:
            pass

    def sweep(self, cur, older_than_minutes=60):
        """Removes stored files no patch points at."""
        if not os.path.isdir(self.root):
            return 0
        cur.execute("SELECT storage_key FROM patches")
        known = {row["storage_key"] for row in cur.fetchall()}
        removed = 0
        import time

        limit = time.time() - older_than_minutes * 60
        for entry in os.scandir(self.root):
            if entry.is_file() and entry.name not in known and entry.stat().st_mtime < limit:
                os.unlink(entry.path)
                removed += 1
        return removed
