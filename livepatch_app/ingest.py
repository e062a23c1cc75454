"""Getting patch files in: the one path for admin uploads, sync and air-gapped
import. Bytes go to the store first (invisible), then the patch row and its
first-tier visibility commit in one transaction; whenever that row does not
commit, the stored bytes are deleted again (and the periodic sweep removes any
left by a crash in between)."""

import logging
import re

from .data import patches, tiers
from .errors import BadRequest, Conflict, Unavailable
from .patchname import InvalidName, parse_patch_name
from .storage import HashingReader

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
    name = parse_name(filename)
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}")
    if expected_sha256 is not None:
        expected_sha256 = str(expected_sha256).strip().lower()
        if not _SHA256_RE.fullmatch(expected_sha256):
            raise BadRequest("the expected sha256 must be 64 hex digits", "invalid-checksum")

    with db.transaction() as cur:
        existing = patches.find(cur, filename)
    if existing is not None:
        # Hash only, store nothing: the answer is a no-op or a conflict.
        reader = HashingReader(stream, max_bytes).drain()
        _check(reader.sha256, reader.size, expected_sha256)
        return _same_or_conflict(existing, reader.sha256)

    stored = store.save(stream, max_bytes=max_bytes, name=filename)
    committed = False
    try:
        _check(stored.sha256, stored.size, expected_sha256)
        with db.transaction() as cur:
            patch_id = patches.insert(cur, name, stored.sha256, stored.size, stored.key, source)
            if patch_id is None:  # the same name committed meanwhile (concurrent upload)
                existing = patches.find(cur, filename)
            else:
                first = tiers.first(cur)
                if first is None:
                    raise Unavailable("there is no tier to put the patch in: create one", "no-tiers")
                patches.add_to_tier(cur, patch_id, first["id"])
                row = patches.find(cur, filename)
        if patch_id is None:
            return _same_or_conflict(existing, stored.sha256)
        committed = True
        log.info("patch stored: %s (%s bytes, source %s)", filename, stored.size, source)
        return row, True
    finally:
        if not committed:
            _discard(store, stored.key)


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
