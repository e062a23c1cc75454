"""Chunked patch bytes of the postgres store (tables blobs, blob_chunks).

Every chunk but a blob's last holds exactly `chunk_size` bytes, so a byte
offset maps to (seq, offset) by arithmetic and a Range read starts at the right
chunk through the primary key. The chunk size is the blob's own: blobs written
before migration 0006 have 1 MiB chunks, newer ones rows of a page."""

import collections
import struct

import psycopg2


def new_ids(cur, count):
    """`count` unused blob ids, taken from the blobs' sequence (for write())."""
    cur.execute("SELECT nextval(pg_get_serial_sequence('blobs', 'id')) AS id FROM generate_series(1, %s)",
                (count,))
    return [row["id"] for row in cur.fetchall()]


_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)  # signature, flags, no extension
_COPY_TRAILER = struct.pack("!h", -1)


def write(cur, blob_id, chunk_size, pieces):
    """Blob `blob_id` (from new_ids) with the bytes of `pieces`, an iterable read lazily, one
    piece in memory at a time; each piece but the last holds a whole number of chunks, and is
    cut into rows of `chunk_size`. `cur` must be in autocommit mode: the blob row and its chunks
    go as ONE statement string, which PostgreSQL runs as one (implicit) transaction: a blob
    costs one query's round trips, not five (BEGIN, the row, the chunks' COPY, COMMIT); an
    error in `pieces` (raised again here) rolls all of it back.

    The chunks travel in COPY's binary format: as a bytea literal they would travel and be
    parsed as hex text, twice their size (half of PostgreSQL's time storing a file). The
    transaction does not wait for the WAL to reach disk: sound for blob writes only, since a
    blob is invisible until a patch row points at it, and that row's (synchronous) commit
    flushes the WAL up to itself, the blob's records with it; a crash in between loses only
    bytes nothing refers to."""
    source = _CopySource(blob_id, chunk_size, pieces)
    statement = cur.mogrify("SET LOCAL synchronous_commit TO OFF;"
                            "INSERT INTO blobs (id, chunk_size) VALUES (%s, %s);"
                            "COPY blob_chunks (blob_id, seq, data) FROM STDIN WITH (FORMAT binary)",
                            (blob_id, chunk_size))
    try:
        cur.copy_expert(statement, source, size=chunk_size + 64)
    except psycopg2.Error:
        if source.error is not None:  # psycopg2 reports it as a cancelled COPY
            raise source.error from None
        raise


class _CopySource:
    """The file psycopg2's COPY reads: header, a row per chunk (blob_id, seq, data), trailer."""

    def __init__(self, blob_id, chunk_size, pieces):
        self.blob_id, self.chunk_size, self.pieces = blob_id, chunk_size, iter(pieces)
        self.pending = collections.deque([_COPY_HEADER])
        self.seq, self.done, self.error = 0, False, None

    def read(self, size=-1):
        if not self.pending and not self.done:
            try:
                data = next(self.pieces, None)
            except BaseException as exc:
                self.error = exc
                raise
            if data is None:
                self.pending.append(_COPY_TRAILER)
                self.done = True
            else:  # per row, its header and its data (bytes: psycopg2 takes no memoryview)
                for start in range(0, len(data), self.chunk_size):
                    row = data[start:start + self.chunk_size]
                    self.pending.append(struct.pack("!hiqiii", 3, 8, self.blob_id, 4, self.seq, len(row)))
                    self.pending.append(row)
                    self.seq += 1
        return self.pending.popleft() if self.pending else b""


def chunk_size(cur, blob_id):
    """The blob's chunk size, or None when there is no such blob."""
    cur.execute("SELECT chunk_size FROM blobs WHERE id = %s", (blob_id,))
    row = cur.fetchone()
    return None if row is None else row["chunk_size"]


def chunks(cur, blob_id, first, count):
    """The bytes of chunks [first, first + count) in order (memoryviews; fewer past the end)."""
    cur.execute("SELECT data FROM blob_chunks WHERE blob_id = %s AND seq >= %s AND seq < %s ORDER BY seq",
                (blob_id, first, first + count))
    return [row["data"] for row in cur.fetchall()]


def delete(cur, blob_id):
    cur.execute("DELETE FROM blobs WHERE id = %s", (blob_id,))


def sweep_unreferenced(cur, older_than_minutes):
    """Deletes blobs that no patch row points at (failed or abandoned uploads).
    The age margin keeps an upload whose row is about to commit."""
    cur.execute(
        """DELETE FROM blobs b WHERE b.created_at < now() - make_interval(mins => %s)
           AND NOT EXISTS (SELECT 1 FROM patches p WHERE p.storage_key = 'blob:' || b.id)""",
        (older_than_minutes,))
    return cur.rowcount
