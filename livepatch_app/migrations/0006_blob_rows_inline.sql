-- Patch bytes of the postgres store are written as rows of 8,000 bytes
-- (storage/postgres.py ROW_BYTES) that stay in the table's own 8 KiB pages: a row
-- is toasted only past the table's toast_tuple_target, by default 2032 bytes, at
-- most 8160 ("page size - header", PostgreSQL's CREATE TABLE storage parameters).
-- Before, a 1 MiB value went to the TOAST table as ~2 KB pieces, each a tuple with
-- its own index entry (and a compression attempt first). Applies to new rows only:
-- blobs already stored keep their 1 MiB chunks (blobs.chunk_size says which).
ALTER TABLE blob_chunks SET (toast_tuple_target = 8160);
