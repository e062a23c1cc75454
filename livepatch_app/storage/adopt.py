"""Moving a server onto another patch store without losing a patch (`python -m
livepatch_app storage adopt`), run by the charm BEFORE the service restarts
with a new `patchstore` or `filestore_path`, and once after an upgrade from
the legacy charm.

Two steps, both into the store the given config names:

1. **Legacy folders**: the patch files a filesystem store folder holds under
   their own names (the legacy charm's `/livepatch/` layout: `<patch file
   name>`, optionally beside a `<name>.sha256` sidecar) go through the import
   path (livepatch_app.ingest, as `storage refresh` does: name checked, sha256
   computed, sidecar verified when there is one) into the first tier. Unlike
   the import folder, the files are left where they are: the folder is the
   legacy store, and the operator removes it once satisfied.
2. **Rows on the other store**: every patch whose bytes are kept by the other
   kind of store (a `blob:<n>` key under a filesystem store; a file key under
   the postgres store, or a file missing from the configured folder) is copied
   from where it is (the postgres store, or a filesystem folder given as
   `from_folders`) into the configured store, its sha256 and size checked
   against the patch's row, and only then the row pointed at the copy (an
   UPDATE conditional on the old key). The old bytes stay until the store's
   sweep removes them as unreferenced.

A patch that cannot be copied or verified is reported as failed and keeps its
row and bytes as they were: the caller must not switch stores then.
"""

import os

from ..data import patches
from ..errors import APIError
from ..patchname import InvalidName, parse_patch_name
from .filesystem import KEY_RE, FilesystemStore
from .postgres import PostgresStore

SIDECAR = ".sha256"


def _is_blob_key(key):
    return str(key).startswith("blob:")


def legacy_files(folder):
    """Patch files a folder holds under their own names (regular, visible), by name."""
    if not folder or not os.path.isdir(folder):
        return []
    names = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                continue
            try:
                parse_patch_name(entry.name)
            except InvalidName:
                continue
            names.append(entry.name)
    return sorted(names)


def _import_legacy(db, store, folder, result):
    from ..import_folder import Rejected, sidecar_sha256
    from ..ingest import ingest_patch

    for filename in legacy_files(folder):
        path = os.path.join(folder, filename)
        try:
            expected = sidecar_sha256(path + SIDECAR, filename) if os.path.exists(path + SIDECAR) else None
            with open(path, "rb") as stream:
                _, created = ingest_patch(db, store, filename, stream, source="import", expected_sha256=expected)
        except Rejected as exc:
            result["failed"].append({"filename": filename, "reason": str(exc)})
            continue
        except APIError as exc:
            result["failed"].append({"filename": filename, "reason": f"{exc.message} ({exc.code})"})
            continue
        except OSError as exc:
            result["failed"].append({"filename": filename, "reason": f"cannot read {path}: {exc.strerror}"})
            continue
        result["imported" if created else "present"].append(filename)


def _held(store, key):
    """Whether `store` serves `key` as it is."""
    if store.kind == "postgres":
        return _is_blob_key(key)
    return not _is_blob_key(key) and os.path.isfile(os.path.join(store.root, key))


def _source(db, key, from_folders):
    if _is_blob_key(key):
        return PostgresStore(db)
    if not KEY_RE.fullmatch(str(key)):
        return None
    for folder in from_folders:
        if os.path.isfile(os.path.join(folder, key)):
            return FilesystemStore(folder)
    return None


def _move_rows(db, store, from_folders, result):
    with db.transaction() as cur:
        rows = patches.stored_bytes(cur)
    for row in rows:
        key, filename = row["storage_key"], row["filename"]
        if _held(store, key):
            continue
        source = _source(db, key, from_folders)
        if source is None:
            where = ", ".join(from_folders) or "no folder given"
            result["failed"].append({"filename": filename, "reason": f"its bytes ({key}) are not found ({where})"})
            continue
        try:
            stored = store.save(_Stream(source.open(key)), name=filename)
        except OSError as exc:
            result["failed"].append({"filename": filename, "reason": f"cannot copy it: {exc}"})
            continue
        if (stored.sha256, stored.size) != (row["sha256"], row["size"]):
            store.delete(stored.key)
            result["failed"].append({"filename": filename, "reason": (
                f"checksum mismatch: the copy has sha256 {stored.sha256} ({stored.size} bytes), "
                f"the patch {row['sha256']} ({row['size']} bytes)")})
            continue
        with db.transaction() as cur:
            updated = patches.repoint(cur, row["id"], key, stored.key)
        if updated:
            result["moved"].append(filename)
        else:  # changed meanwhile (deleted, or moved by another unit): keep theirs
            store.delete(stored.key)


class _Stream:
    """A file-like read() over an iterator of byte chunks (for store.save)."""

    def __init__(self, chunks):
        self._chunks, self._buffer = iter(chunks), b""

    def read(self, size=-1):
        while size < 0 or len(self._buffer) < size:
            data = next(self._chunks, None)
            if data is None:
                break
            self._buffer += data
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def adopt(db, store, legacy_folders=(), from_folders=()):
    """Steps 1 and 2 into `store` -> {"store", "imported", "present", "moved", "failed"}:
    names imported from legacy folders, names already there with the same bytes,
    names whose bytes were copied into `store`, and [{"filename", "reason"}]."""
    result = {"store": store.kind, "imported": [], "present": [], "moved": [], "failed": []}
    for folder in legacy_folders:
        _import_legacy(db, store, folder, result)
    _move_rows(db, store, [os.path.abspath(f) for f in from_folders if f], result)
    return result
