"""Patch bytes as files under `filestore_path`. Uploads are written to a hidden
staging folder, fsynced and renamed into place, so a half-written file never
carries a patch's name; the key is always a bare file name, never a path.

Keys are `<16 hex>-<patch file name>`: unique per upload (two concurrent uploads
of one name never overwrite each other's bytes) yet readable by an operator.
Only files of that shape (and staging leftovers) are ever swept: patch files an
operator drops into the folder for an air-gapped `storage refresh` are left alone.
"""

import os
import re
import secrets
import time

from ..data import patches
from . import CHUNK, HashingReader, Stored, file_chunks

_STAGING = ".incoming"
KEY_RE = re.compile(r"[0-9a-f]{16}-[A-Za-z0-9._-]+|[0-9a-f]{32}")


class FilesystemStore:
    kind = "filesystem"

    def __init__(self, root, fallback=None):
        self.root = os.path.abspath(root)
        self.fallback = fallback  # reads the keys of the other store (make_store)

    @staticmethod
    def holds(key):
        return not str(key).startswith("blob:")

    def _path(self, key):
        if not isinstance(key, str) or not KEY_RE.fullmatch(key) or ".." in key:
            raise FileNotFoundError(key)
        return os.path.join(self.root, key)

    def save(self, stream, max_bytes=None, name=None):
        staging = os.path.join(self.root, _STAGING)
        os.makedirs(staging, exist_ok=True)
        temp = os.path.join(staging, secrets.token_hex(8))
        reader = HashingReader(stream, max_bytes)
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", name or "").lstrip(".")
        key = f"{secrets.token_hex(8)}-{safe}" if safe else secrets.token_hex(16)
        try:
            with open(temp, "wb") as out:
                for data in reader.chunks(CHUNK):
                    out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, self._path(key))
            _fsync_dir(self.root)
        except BaseException:
            try:
                os.unlink(temp)
            except FileNotFoundError:
                pass
            raise
        return Stored(key, reader.sha256, reader.size)

    def open(self, key, start=0, end=None):
        if self.fallback is not None and not self.holds(key):
            return self.fallback.open(key, start, end)
        # Opened here, not lazily: a missing file fails now, before any header is sent.
        return file_chunks(self.open_file(key), start, end)

    def open_file(self, key):
        """The file, open for reading (downloads hand it to waitress's file_wrapper)."""
        return open(self._path(key), "rb")

    def path(self, key):
        """The file's path (for callers that want to hand the file to the OS)."""
        return self._path(key)

    def delete(self, key):
        try:
            os.unlink(self._path(key))
        except FileNotFoundError:
            pass

    def sweep(self, cur, older_than_minutes=60):
        """Removes stored files no patch points at, and stale staging files."""
        if not os.path.isdir(self.root):
            return 0
        known = patches.storage_keys(cur)
        limit = time.time() - older_than_minutes * 60
        removed = 0
        staging = os.path.join(self.root, _STAGING)
        candidates = [e for e in os.scandir(self.root) if KEY_RE.fullmatch(e.name) and e.name not in known]
        if os.path.isdir(staging):
            candidates += list(os.scandir(staging))
        for entry in candidates:
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < limit:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                pass
        return removed


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
