"""Patch bytes in PostgreSQL, in 1 MiB chunks: every unit serves every patch, and
neither upload nor download holds a whole file in memory."""

from . import CHUNK, HashingReader, Stored


class PostgresStore:
    kind = "postgres"

    def __init__(self, db):
        self.db = db

    def save(self, stream, max_bytes=None, name=None):
        reader = HashingReader(stream, max_bytes)
        # One transaction: a failure half-way rolls every chunk back.
        with self.db.transaction() as cur:
            cur.execute("INSERT INTO blobs (chunk_size) VALUES (%s) RETURNING id", (CHUNK,))
            blob_id = cur.fetchone()["id"]
            for seq, data in enumerate(reader.chunks(CHUNK)):
                cur.execute("INSERT INTO blob_chunks (blob_id, seq, data) VALUES (%s, %s, %s)",
                            (blob_id, seq, data))
        return Stored(f"blob:{blob_id}", reader.sha256, reader.size)

    def open(self, key, start=0, end=None):
        """Yields the bytes [start, end) of a stored blob, a chunk per query."""
        blob_id = _blob_id(key)
        with self.db.transaction() as cur:
            cur.execute("SELECT chunk_size FROM blobs WHERE id = %s", (blob_id,))
            row = cur.fetchone()
        if row is None:
            raise FileNotFoundError(key)
        return self._iterate(blob_id, row["chunk_size"], start, end)

    def _iterate(self, blob_id, chunk_size, start, end):
        seq = start // chunk_size
        offset = start - seq * chunk_size
        position = start
        while end is None or position < end:
            with self.db.transaction() as cur:
                cur.execute("SELECT data FROM blob_chunks WHERE blob_id = %s AND seq = %s", (blob_id, seq))
                row = cur.fetchone()
            if row is None:
                return
            data = bytes(row["data"])[offset:]
            if end is not None:
                data = data[: end - position]
            if not data:
                return
            position += len(data)
            yield data
            seq += 1
            offset = 0

    def delete(self, key):
        with self.db.transaction() as cur:
            cur.execute("DELETE FROM blobs WHERE id = %s", (_blob_id(key),))

    def sweep(self, cur, older_than_minutes=60):
        """Removes blobs no patch points at (failed or abandoned uploads)."""
        cur.execute(
            """DELETE FROM blobs b WHERE b.created_at < now() - make_interval(mins => %s)
               AND NOT EXISTS (SELECT 1 FROM patches p WHERE p.storage_key = 'blob:' || b.id)""",
            (older_than_minutes,))
        return cur.rowcount


def _blob_id(key):
    prefix, _, number = key.partition(":")
    if prefix != "blob" or not number.isdigit():
        raise FileNotFoundError(key)
    return int(number)
