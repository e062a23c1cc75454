"""db.Database: one pooled connection serves both kinds of use, switched only when a
use wants the other mode: a transaction() after autocommit() uses is still one
transaction (its rollback undoes everything), and an autocommit() use after a
transaction commits each statement at once."""

import psycopg2
import pytest

from livepatch_app.db import Database


def rows(dsn):
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT v FROM modes ORDER BY v")
            return [v for (v,) in cur.fetchall()]
    finally:
        conn.close()


def test_modes_switch_on_one_pooled_connection(make_database):
    dsn = make_database()
    db = Database(dsn, max_connections=1)  # one connection: every use below shares it
    try:
        with db.autocommit() as cur:
            cur.execute("CREATE TABLE modes (v integer)")
            cur.execute("INSERT INTO modes VALUES (1)")
            assert rows(dsn) == [1]  # committed before the block ends
        with pytest.raises(RuntimeError), db.transaction() as cur:
            cur.execute("INSERT INTO modes VALUES (2)")
            cur.execute("INSERT INTO modes VALUES (3)")
            assert rows(dsn) == [1]  # not yet visible to others
            raise RuntimeError("roll back")
        assert rows(dsn) == [1]
        with db.transaction() as cur:
            cur.execute("INSERT INTO modes VALUES (4)")
        with db.autocommit() as cur:
            cur.execute("INSERT INTO modes VALUES (5)")
            assert rows(dsn) == [1, 4, 5]
    finally:
        db.close()
