"""Chunked patch bytes of the postgres store (tables blobs, blob_chunks).

Every chunk but a blob's last holds exactly `chunk_size` bytes, so a byte
offset maps to (seq, offset) by arithmetic and a Range read starts at the right
chunk through the primary key."""

import io
import struct


def create(cur, chunk_size):
    """A new blob -> its id. Its transaction's commit does not wait for the WAL to reach
    disk: sound for blob writes only, since a blob is invisible until a patch row points
    at it, and that row's (synchronous) commit flushes the WAL up to itself, the blob's
    records with it; a crash in between loses only bytes nothing refers to."""
    cur.execute("SET LOCAL synchronous_commit TO OFF;"
                "INSERT INTO blobs (chunk_size) VALUES (%s) RETURNING id", (chunk_size,))
    return cur.fetchone()["id"]


_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)  # signature, flags, no extension
_COPY_TRAILER = struct.pack("!h", -1)


def add_chunk(cur, blob_id, seq, data):
    """One chunk, sent in COPY's binary format: as a bytea literal it would travel and
    be parsed as hex text, twice its size (half of PostgreSQL's time storing a file)."""
    row = struct.pack("!hiqiii", 3, 8, blob_id, 4, seq, len(data))
    cur.copy_expert("COPY blob_chunks (blob_id, seq, data) FROM STDIN WITH (FORMAT binary)",
                    io.BytesIO(b"".join((_COPY_HEADER, row, data, _COPY_TRAILER))), size=len(data) + 64)


def chunk_size(cur, blob_id):
    """The blob's chunk size, or None when there is no such blob."""
    cur.execute("SELECT chunk_size FROM blobs WHERE id = %s", (blob_id,))
    row = cur.fetchone()
    return None if row is None else row["chunk_size"]


def chunk(cur, blob_id, seq):
    """The bytes of one chunk (a memoryview), or None past the end."""
    cur.execute("SELECT data FROM blob_chunks WHERE blob_id = %s AND seq = %s", (blob_id, seq))
    row = cur.fetchone()
    return None if row is None else row["data"]


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
