"""Chunked patch bytes of the postgres store (tables blobs, blob_chunks).

Every chunk but a blob's last holds exactly `chunk_size` bytes, so a byte
offset maps to (seq, offset) by arithmetic and a Range read starts at the right
chunk through the primary key."""


def create(cur, chunk_size):
    cur.execute("INSERT INTO blobs (chunk_size) VALUES (%s) RETURNING id", (chunk_size,))
    return cur.fetchone()["id"]


def add_chunk(cur, blob_id, seq, data):
    cur.execute("INSERT INTO blob_chunks (blob_id, seq, data) VALUES (%s, %s, %s)", (blob_id, seq, data))


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
