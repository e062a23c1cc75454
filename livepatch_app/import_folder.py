"""Air-gapped import: patch files an operator copied into the import folder
(config `import_path`, else `<filestore_path>/import`) are validated by name,
hashed, verified against a `<name>.sha256` sidecar when one is there (the line
`sha256sum` prints: `<sha256>  <filename>`), and ingested into the first tier.

A file imported (or already held with the same bytes) leaves the folder: its
bytes now live in the patch store, so no second copy is kept. A file that
fails is moved, with its sidecar, to `rejected/`, beside a `<name>.reason`
text file, so the folder only ever holds work still to do.
"""

import os
import re

from .data import sync_runs
from .errors import APIError
from .patchname import InvalidName, parse_patch_name
from .sync.lock import RunLock

SIDECAR = ".sha256"
REJECTED = "rejected"
_SIDECAR_RE = re.compile(r"^([0-9a-fA-F]{64})(?:[ \t]+\*?(\S.*?))?\s*$")
_SIDECAR_MAX = 4096


def folder_for(config):
    return config.import_path or os.path.join(config.filestore_path, "import")


class Rejected(Exception):
    """A file the import path refuses; the message says why."""


def sidecar_sha256(path, filename):
    """The sha256 a sidecar promises for `filename`; Rejected when it is malformed."""
    with open(path, "rb") as handle:
        raw = handle.read(_SIDECAR_MAX + 1)
    if len(raw) > _SIDECAR_MAX:
        raise Rejected("the .sha256 sidecar is too large to be a checksum line")
    try:
        lines = [line for line in raw.decode("utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError:
        lines = []
    match = _SIDECAR_RE.match(lines[0]) if len(lines) == 1 else None
    if match is None:
        raise Rejected("the .sha256 sidecar is not one line '<sha256>  <filename>' as sha256sum prints")
    named = match.group(2)
    if named is not None and os.path.basename(named) != filename:
        raise Rejected(f"the .sha256 sidecar names another file ({os.path.basename(named)[:255]!r})")
    return match.group(1).lower()


def _remove(*paths):
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _reject(folder, filename, sidecar, reason):
    target = os.path.join(folder, REJECTED)
    os.makedirs(target, exist_ok=True)
    os.replace(os.path.join(folder, filename), os.path.join(target, filename))
    if os.path.exists(sidecar):
        os.replace(sidecar, os.path.join(target, filename + SIDECAR))
    with open(os.path.join(target, filename + ".reason"), "w", encoding="utf-8") as handle:
        handle.write(reason + "\n")


def _candidates(folder):
    """Regular, visible files that are not sidecars, by name."""
    names = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") or entry.name.endswith(SIDECAR) or entry.name.endswith(".reason"):
                continue
            if entry.is_file():
                names.append(entry.name)
    return sorted(names)


def _import_one(db, store, folder, filename):
    """-> 'imported', or 'skipped' when the same bytes are already stored under
    that name; Rejected(reason) otherwise (ingest refuses a same name with
    other bytes as patch-exists)."""
    from .ingest import ingest_patch  # the patches area's single way in

    path = os.path.join(folder, filename)
    sidecar = path + SIDECAR
    try:
        parse_patch_name(filename)
    except InvalidName as exc:
        raise Rejected(str(exc)) from None
    expected = sidecar_sha256(sidecar, filename) if os.path.exists(sidecar) else None
    try:
        with open(path, "rb") as stream:
            _, created = ingest_patch(db, store, filename, stream, source="import", expected_sha256=expected)
    except APIError as exc:
        if exc.code == "checksum-mismatch":
            raise Rejected(f"{exc.message}: it does not match its .sha256 sidecar") from None
        raise Rejected(f"{exc.message} ({exc.code})") from None
    _remove(path, sidecar)
    return "imported" if created else "skipped"


def refresh(config, db, store):
    """Import what the folder holds -> {"imported": [...], "skipped": [...], "rejected": [...]}.
    One refresh at a time across all units (SyncBusy otherwise); OSError when the
    folder cannot be read."""
    folder = folder_for(config)
    result = {"imported": [], "skipped": [], "rejected": []}
    if not os.path.isdir(folder):
        return result
    lock = RunLock(db.dsn, sync_runs.IMPORT_LOCK_ID, "a storage refresh is already in progress")
    lock.acquire()
    try:
        for filename in _candidates(folder):
            try:
                result[_import_one(db, store, folder, filename)].append(filename)
            except FileNotFoundError:
                continue  # taken away meanwhile
            except (Rejected, OSError) as exc:
                reason = str(exc) if isinstance(exc, Rejected) else f"cannot read it: {exc.strerror}"
                _reject(folder, filename, os.path.join(folder, filename + SIDECAR), reason)
                result["rejected"].append({"filename": filename, "reason": reason})
    finally:
        lock.close()
    return result
