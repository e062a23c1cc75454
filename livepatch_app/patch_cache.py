"""On-disk cache of hot patch files for the postgres store (`patch_cache_on`).

Files are kept under `patch_cache_path` named by their sha256, so an entry can
never be stale: the same name always means the same bytes. Least recently used
entries go first when the total passes `patch_cache_size` MiB, and entries older
than `patch_cache_ttl` seconds are dropped. A full download that misses fills
the cache as it streams (into a temp file, renamed into place only when every
byte arrived and the hash matches), so no request waits for a fill.
"""

import hashlib
import logging
import os
import re
import secrets
import threading
import time
from collections import OrderedDict

from .context import services

log = logging.getLogger("livepatch.cache")
_ENTRY_RE = re.compile(r"^[0-9a-f]{64}$")
_TEMP_PREFIX = ".fill-"


class PatchCache:
    def __init__(self, path, max_bytes, ttl_seconds, on_error=None):
        self.path = os.path.abspath(path)
        self.max_bytes = max_bytes
        self.ttl = ttl_seconds
        # on_error(stage): a failure the download survived ("write": a fill could not be
        # created or written; "verify": the bytes streamed did not match their sha256;
        # "install": a complete fill could not be renamed into place).
        self._on_error = on_error or (lambda stage: None)
        self._lock = threading.Lock()
        self._entries = OrderedDict()  # sha256 -> (size, filled_at); least recently used first
        self._total = 0
        os.makedirs(self.path, exist_ok=True)
        self._load()

    @classmethod
    def from_config(cls, config, store_kind, on_error=None):
        """The cache when configured for a postgres store, else None; a cache folder
        that cannot be used is reported to on_error("open")."""
        if not config.patch_cache_on or store_kind != "postgres":
            return None
        try:
            return cls(config.patch_cache_path, config.patch_cache_size * 1024 * 1024, config.patch_cache_ttl,
                       on_error)
        except OSError as exc:
            log.warning("patch cache disabled: cannot use %s: %s", config.patch_cache_path, exc.strerror)
            if on_error:
                on_error("open")
            return None

    def _load(self):
        """Adopts entries left by an earlier run (oldest first); drops unfinished fills."""
        found = []
        for entry in os.scandir(self.path):
            if entry.name.startswith(_TEMP_PREFIX):
                _unlink(entry.path)
            elif _ENTRY_RE.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                stat = entry.stat()
                found.append((stat.st_mtime, entry.name, stat.st_size))
        for mtime, sha, size in sorted(found):
            self._entries[sha] = (size, mtime)
            self._total += size
        self._evict()

    def _file(self, sha256):
        return os.path.join(self.path, sha256)

    def open_file(self, sha256):
        """The cached file, open for reading, or None on a miss (absent or expired)."""
        with self._lock:
            entry = self._entries.get(sha256)
            if entry is not None and time.time() - entry[1] > self.ttl:
                self._drop(sha256)
                entry = None
            if entry is not None:
                self._entries.move_to_end(sha256)
        if entry is None:
            return None
        try:
            return open(self._file(sha256), "rb")
        except FileNotFoundError:  # removed behind our back
            with self._lock:
                if sha256 in self._entries:
                    self._drop(sha256)
            return None

    def fill_through(self, sha256, size, chunks):
        """Yields `chunks` unchanged while writing them to the cache; the entry is
        installed only if the whole file arrived with the right hash, and only if
        it fits at all. It is installed before the last chunk is handed on, so a
        client that has received every byte finds the entry in place."""
        if size > self.max_bytes:
            yield from chunks
            return
        temp = os.path.join(self.path, f"{_TEMP_PREFIX}{secrets.token_hex(8)}")
        try:
            out = open(temp, "wb")
        except OSError:
            self._on_error("write")
            yield from chunks
            return
        digest, written, installed = hashlib.sha256(), 0, False
        try:
            for data in chunks:
                if out is not None:
                    try:
                        out.write(data)
                        digest.update(data)
                    except OSError:  # disk full and the like: serve on, cache nothing
                        out.close()
                        out = None
                        self._on_error("write")
                written += len(data)
                if written == size and out is not None:
                    out.close()
                    out = None
                    if digest.hexdigest() != sha256:
                        self._on_error("verify")
                    else:
                        installed = self._install(temp, sha256, size)
                elif written > size and installed:  # the source sent more than it said
                    installed = False
                    with self._lock:
                        if sha256 in self._entries:
                            self._drop(sha256)
                yield data
        finally:
            if out is not None:
                out.close()
            if not installed:
                _unlink(temp)
            close = getattr(chunks, "close", None)
            if close:
                close()

    def _install(self, temp, sha256, size):
        """Renames a complete fill into place and accounts for it."""
        try:
            os.replace(temp, self._file(sha256))
        except OSError:
            self._on_error("install")
            return False
        with self._lock:
            if sha256 in self._entries:
                self._total -= self._entries.pop(sha256)[0]
            self._entries[sha256] = (size, time.time())
            self._total += size
            self._evict()
        return True

    def expire(self):
        """Drops entries past their TTL; returns how many."""
        now = time.time()
        with self._lock:
            old = [sha for sha, (_, filled) in self._entries.items() if now - filled > self.ttl]
            for sha in old:
                self._drop(sha)
        return len(old)

    def _evict(self):
        while self._total > self.max_bytes and self._entries:
            self._drop(next(iter(self._entries)))

    def _drop(self, sha256):
        size, _ = self._entries.pop(sha256)
        self._total -= size
        # An open reader keeps its handle: unlinking never breaks a download in flight.
        _unlink(self._file(sha256))

    def stats(self):
        with self._lock:
            return {"entries": len(self._entries), "bytes": self._total}


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass




def for_app(app):
    """The app's cache (made on first use), or None when there is none."""
    shared = services(app)
    if shared.patch_cache is None:
        with shared.lock:
            if shared.patch_cache is None:
                errors = shared.metrics.cache_errors
                shared.patch_cache = PatchCache.from_config(shared.config, getattr(shared.store, "kind", ""),
                                                            lambda stage: errors.inc(stage=stage))
    return shared.patch_cache
