"""Getting patch files in: the one path for admin uploads, sync and air-gapped
import. Bytes go to the store first (invisible) and are checked (`stage`), then
the patch row and its first-tier visibility commit in one transaction (`commit`,
which takes several staged files at once: sync commits in batches); whenever a
row does not commit, its stored bytes are deleted again (and the periodic sweep
removes any left by a crash in between)."""

import logging
import re
from dataclasses import dataclass

from .data import patches, tiers
from .errors import BadRequest, Conflict, Unavailable
from .patchname import InvalidName, PatchName, parse_patch_name
from .storage import HashingReader, Stored

log = logging.getLogger("livepatch.ingest")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
SOURCES = ("upload", "sync", "import")


def parse_name(filename):
    """PatchName, or errors.BadRequest code `invalid-patch-name`."""
    try:
        return parse_patch_name(filename)
    except InvalidName as exc:
        raise BadRequest(str(exc), "invalid-patch-name") from None


def ingest_patch(db, store, filename, stream, *, source="upload", max_bytes=None, expected_sha256=None):
    """Stores `stream` (a binary file-like object) as patch `filename`.

    -> (patch row dict as data.patches.find returns it, created: bool).
    Same name and same bytes as a stored patch: (that patch, False), nothing
    changes. Raises errors.BadRequest (`invalid-patch-name`, `invalid-checksum`,
    `checksum-mismatch`, `empty-upload`), errors.TooLarge (`upload-too-large`,
    past max_bytes), errors.Conflict (`patch-exists`: same name, other bytes).
    """
    parse_name(filename)
    _check_source(source)
    expected_sha256 = _expected(expected_sha256)

    with db.transaction() as cur:
        existing = patches.find(cur, filename)
    if existing is not None:
        # Hash only, store nothing: the answer is a no-op or a conflict.
        reader = HashingReader(stream, max_bytes).drain()
        _check(reader.sha256, reader.size, expected_sha256)
        return _same_or_conflict(existing, reader.sha256)

    staged = stage(store, filename, stream, max_bytes=max_bytes, expected_sha256=expected_sha256)
    (result,) = commit(db, store, [staged], source, rows=True)
    if result.error is not None:
        raise result.error
    return result.row, result.created


@dataclass
class Staged:
    """Verified bytes in the store, not yet visible: no patch row points at them."""
    name: PatchName
    stored: Stored


@dataclass
class Committed:
    """What became of one Staged file: `created`, or not (the same bytes were there),
    or `error` (errors.Conflict: other bytes under that name); `row` when asked for."""
    filename: str
    created: bool
    error: Exception | None = None
    row: dict | None = None


def stage(store, filename, stream, *, max_bytes=None, expected_sha256=None):
    """Saves `stream` invisibly and checks it (size, sha256) -> Staged; on any failure
    the stored bytes are deleted again. Same errors as ingest_patch but `patch-exists`."""
    name = parse_name(filename)
    expected_sha256 = _expected(expected_sha256)
    stored = store.save(stream, max_bytes=max_bytes, name=filename)
    try:
        _check(stored.sha256, stored.size, expected_sha256)
    except BaseException:
        _discard(store, stored.key)
        raise
    return Staged(name, stored)


def commit(db, store, staged, source, rows=False):
    """Makes Staged files visible in the first tier, all in one transaction -> a
    Committed per file, in order. A name taken meanwhile keeps its patch (ours was
    the same bytes, or a Conflict); whatever does not commit has its bytes deleted."""
    _check_source(source)
    results, kept = [], set()
    try:
        with db.transaction() as cur:
            first = tiers.first(cur)
            if first is None:
                raise Unavailable("there is no tier to put the patch in: create one", "no-tiers")
            inserted = patches.insert_many(
                cur, [(s.name, s.stored.sha256, s.stored.size, s.stored.key) for s in staged], source)
            patches.add_many_to_tier(cur, [patch_id for patch_id, _ in inserted.values()], first["id"])
            taken = patches.sha256_by_name(cur, [s.name.filename for s in staged
                                                 if s.name.filename not in inserted])
            for item in staged:
                filename, sha256 = item.name.filename, item.stored.sha256
                if filename in inserted and inserted[filename][1] == item.stored.key:
                    kept.add(item.stored.key)
                    result = Committed(filename, True)
                else:  # the name was taken meanwhile, or twice in `staged`
                    theirs = taken.get(filename) or next(s.stored.sha256 for s in staged
                                                         if s.stored.key == inserted[filename][1])
                    result = Committed(filename, False, None if theirs == sha256 else Conflict(
                        f"{filename} exists with other content (sha256 {theirs}): delete it first to replace it",
                        "patch-exists"))
                if rows and result.error is None:
                    result.row = patches.find(cur, filename)
                results.append(result)
    except BaseException:
        kept.clear()  # rolled back: no row points at any of them
        raise
    finally:
        for item in staged:
            if item.stored.key not in kept:
                _discard(store, item.stored.key)
    for item, result in zip(staged, results):
        if result.created:
            log.info("patch stored: %s (%s bytes, source %s)", result.filename, item.stored.size, source)
    return results


def _check_source(source):
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}")


def _expected(expected_sha256):
    if expected_sha256 is None:
        return None
    expected_sha256 = str(expected_sha256).strip().lower()
    if not _SHA256_RE.fullmatch(expected_sha256):
        raise BadRequest("the expected sha256 must be 64 hex digits", "invalid-checksum")
    return expected_sha256


def _check(sha256, size, expected_sha256):
    if size == 0:
        raise BadRequest("the patch file is empty", "empty-upload")
    if expected_sha256 is not None and sha256 != expected_sha256:
        raise BadRequest(f"the bytes' sha256 is {sha256}, not the expected {expected_sha256}", "checksum-mismatch")


def _same_or_conflict(existing, sha256):
    if existing["sha256"].strip() == sha256:
        return existing, False
    raise Conflict(f"{existing['filename']} exists with other content (sha256 {existing['sha256'].strip()}): "
                   "delete it first to replace it", "patch-exists")


def _discard(store, key):
    try:
        store.delete(key)
    except Exception:  # the sweep removes it later; the caller's error matters more
        log.warning("could not delete unreferenced stored bytes %s; the sweep will", key)
