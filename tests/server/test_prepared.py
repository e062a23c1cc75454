"""db.Prepared: a hot-path statement is prepared once per pool connection and then
only executed; cursors of other connections run the plain statement. Against the
real PostgreSQL, whose pg_prepared_statements view lists a session's statements."""

import psycopg2
import pytest

from livepatch_app.db import Database, Prepared

ADD = Prepared("test_add", "SELECT %(a)s + %(b)s AS total, %(a)s AS a", [("a", "integer"), ("b", "integer")])


def prepared_names(cur):
    cur.execute("SELECT name FROM pg_prepared_statements ORDER BY name")
    return [row["name"] if isinstance(row, dict) else row[0] for row in cur.fetchall()]


def test_prepared_once_per_connection_and_kept_across_transactions(make_database):
    db = Database(make_database(), max_connections=1)
    try:
        with db.autocommit() as cur:
            assert prepared_names(cur) == []
            ADD.execute(cur, {"a": 2, "b": 3})
            assert cur.fetchone()["total"] == 5
        # The same pooled connection: no second PREPARE (it would fail: the name exists).
        with pytest.raises(RuntimeError), db.transaction() as cur:
            ADD.execute(cur, {"a": 40, "b": 2})
            assert cur.fetchone() == {"total": 42, "a": 40}
            raise RuntimeError("roll the transaction back")
        # A rollback does not drop a prepared statement (it lives as long as the session).
        with db.transaction() as cur:
            assert prepared_names(cur) == ["test_add"]
            ADD.execute(cur, {"a": 1, "b": None})
            assert cur.fetchone()["total"] is None
    finally:
        db.close()


def test_other_connections_run_the_plain_statement(make_database):
    conn = psycopg2.connect(make_database())
    try:
        with conn, conn.cursor() as cur:
            ADD.execute(cur, {"a": 1, "b": 2})
            assert cur.fetchone() == (3, 1)
            assert prepared_names(cur) == []
    finally:
        conn.close()


def test_every_placeholder_needs_a_type():
    with pytest.raises(ValueError, match="placeholder"):
        Prepared("test_untyped", "SELECT %(a)s + %(b)s", [("a", "integer")])
