"""Patch file downloads on /v1/patches/{filename} and /patches/{filename}.

GET and HEAD; ETag (quoted sha256) with If-None-Match -> 304; a single byte
Range -> 206 (416 when unsatisfiable; several ranges or a malformed header are
ignored, as RFC 9110 allows); Content-Length always. The body streams from the
store a chunk at a time, so memory does not grow with the file. No auth: a
client only learns a file's name (and hash) from its check-in, and the files
are signed patches; blocked patches are refused to everyone.
"""

import logging
import re
from urllib.parse import quote, urlsplit

from flask import Blueprint, Response, current_app, request

from .. import context
from ..data import patches
from ..errors import APIError, Forbidden, NotFound
from ..ingest import parse_name
from ..patch_cache import for_app
from ..storage import CHUNK, file_chunks

bp = Blueprint("downloads", __name__)
log = logging.getLogger("livepatch.downloads")

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
CONTENT_TYPE = "application/x-bzip2"


def patch_url(template, filename):
    """The download URL for a patch from `url_template` ('...{filename}')."""
    return template.replace("{filename}", quote(filename, safe=""))


def _parse_range(header, size):
    """(start, end_exclusive) for one satisfiable range; None to serve the whole
    file (no, several or malformed ranges); "unsatisfiable" for a 416."""
    if not header:
        return None
    match = _RANGE_RE.fullmatch(header.strip().replace(" ", ""))
    if not match or (not match[1] and not match[2]):
        return None
    first, last = match[1], match[2]
    if first:
        start = int(first)
        end = size if not last else int(last) + 1
        if last and int(last) < start:
            return None  # an invalid range: ignored
        if start >= size:
            return "unsatisfiable"
        return start, min(end, size)
    suffix = int(last)
    if suffix == 0:
        return "unsatisfiable"
    return max(size - suffix, 0), size


def _etag_matches(header, sha256):
    """If-None-Match: '*' or any listed tag (weak comparison) equal to ours."""
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == f'"{sha256}"':
            return True
    return False


class _Counted:
    """The body iterator: counts bytes sent and closes the source when waitress
    is done with it, also when the client went away half-way."""

    def __init__(self, chunks, metrics):
        self.chunks = chunks
        self.metrics = metrics

    def __iter__(self):
        for data in self.chunks:
            self.metrics.download_bytes.inc(len(data))
            yield data

    def close(self):
        close = getattr(self.chunks, "close", None)
        if close:
            close()


def _open(patch, start, end):
    """The bytes [start, end): an open file when they are in one (the patch cache, the
    filesystem store), else chunks (the postgres store, filling the cache on the way)."""
    store = context.store()
    cache = for_app(current_app)
    if cache is None:
        open_file = getattr(store, "open_file", None)
        if open_file and store.holds(patch["storage_key"]):
            return open_file(patch["storage_key"])
        return store.open(patch["storage_key"], start, end)
    metrics = context.metrics()
    sha256, size = patch["sha256"].strip(), patch["size"]
    handle = cache.open_file(sha256)
    if handle is not None:
        metrics.cache_hits.inc()
        return handle
    metrics.cache_misses.inc()
    source = store.open(patch["storage_key"], start, end)
    if start == 0 and end == size:  # only a whole file fills the cache
        return cache.fill_through(sha256, size, source)
    return source


def _app_iter(body, start, end, size, metrics):
    """An open file up to its end goes to the server's wsgi.file_wrapper: waitress then
    sends it from its event loop, a socket buffer at a time, with no Python per chunk
    and no worker thread held once the view returns. Anything else streams."""
    if not hasattr(body, "read"):
        return _Counted(body, metrics)
    wrapper = request.environ.get("wsgi.file_wrapper")
    if wrapper is None or end != size:  # a file_wrapper sends to the end of the file
        return _Counted(file_chunks(body, start, end), metrics)
    body.seek(start)
    metrics.download_bytes.inc(end - start)  # counted as the answer starts
    return wrapper(body, CHUNK)


def _redirect_target(filename):
    config = context.config()
    if not config.redirect_downloads or not config.url_template:
        return None
    target = patch_url(config.url_template, filename)
    parts = urlsplit(target)
    # A template pointing back at this very URL would loop: serve instead.
    if parts.path == request.path and parts.netloc in ("", request.host):
        return None
    return target


def _read_patch(filename):
    with context.db().autocommit() as cur:  # one read: no BEGIN and COMMIT round trips
        return patches.find_for_download(cur, filename)


@bp.get("/v1/patches/<filename>")
@bp.get("/patches/<filename>")
def download(filename):
    metrics = context.metrics()
    try:
        return _download(filename, metrics)
    except APIError as exc:
        metrics.downloads.inc(status=str(exc.status))
        raise


def _download(filename, metrics):
    parse_name(filename)  # not a patch name: 400, and no store lookup at all
    patch = context.services().download_index.lookup(filename, lambda: _read_patch(filename))
    if patch is None:
        raise NotFound(f"no patch file named {filename}", "patch-not-found")
    if patch["blocked"]:
        raise Forbidden(f"{filename} is blocked on this server", "patch-blocked")
    sha256, size = patch["sha256"].strip(), patch["size"]

    target = _redirect_target(filename)
    if target is not None:
        metrics.downloads.inc(status="302")
        return Response(status=302, headers={"Location": target, "Content-Length": "0"})

    headers = {"ETag": f'"{sha256}"', "Accept-Ranges": "bytes", "Cache-Control": "public, max-age=86400"}
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match and _etag_matches(if_none_match, sha256):
        metrics.downloads.inc(status="304")
        return Response(status=304, headers=headers)

    wanted = _parse_range(request.headers.get("Range"), size)
    if_range = request.headers.get("If-Range")
    if wanted is not None and if_range and if_range.strip() != f'"{sha256}"':
        wanted = None  # the client's copy is another file: send the whole new one
    if wanted == "unsatisfiable":
        raise APIError(f"the range is outside the file ({size} bytes)", "range-not-satisfiable", 416,
                       headers={"Content-Range": f"bytes */{size}", **headers})
    status, (start, end) = (200, (0, size)) if wanted is None else (206, wanted)
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    headers["Content-Length"] = str(end - start)
    metrics.downloads.inc(status=str(status))

    if request.method == "HEAD":
        return Response(status=status, headers=headers, content_type=CONTENT_TYPE)
    try:
        body = _open(patch, start, end)
    except FileNotFoundError:
        log.error("patch %s has a row but its bytes are missing from the store", filename)
        raise NotFound(f"the bytes of {filename} are missing from the store", "patch-file-missing") from None
    return Response(_app_iter(body, start, end, size, metrics), status=status, headers=headers,
                    content_type=CONTENT_TYPE, direct_passthrough=True)
