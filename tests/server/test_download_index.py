"""Download lookups are cached per process and kept exact by LISTEN/NOTIFY
(download_index.py, migration 0003): a block, an unblock or a delete made through one
server (or straight in the database, as a sync run or another unit does) reaches
every other server's next downloads within moments; with its listener cut off a
server reads the database for every download until it listens again."""

import os

import psycopg2

from livetest import wait_for

NAME = "livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2"
DATA = os.urandom(64 * 1024)


def status(server):
    return server.request("GET", f"/v1/patches/{NAME}").status_code


def listening(server):
    from livepatch_app.context import services

    return services(server.app).download_index._listening


def sql(dsn, statement, params=()):
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(statement, params)
    conn.close()


def test_changes_on_one_server_or_in_the_database_reach_the_others(make_server, make_database):
    dsn = make_database()
    a, b = make_server(database_url=dsn), make_server(database_url=dsn)
    assert a.admin("PUT", f"/v1/admin/patches/{NAME}", data=DATA).status_code == 201
    assert status(b) == 200  # starts b's listener
    wait_for(lambda: listening(b), what="b's listener")
    assert status(b) == 200  # now cached on b

    assert a.admin("POST", f"/v1/admin/patches/{NAME}/block", json={}).status_code == 200
    wait_for(lambda: status(b) == 403, timeout=5, what="b to see the block")
    assert status(a) == 403  # the server that made the change: at once
    sql(dsn, "DELETE FROM blocklist WHERE filename = %s", (NAME,))  # as a sync run would
    wait_for(lambda: status(b) == 200, timeout=5, what="b to see the unblock")

    # Listener cut off: b reads the database, so a change it was not told of still shows.
    sql(dsn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'livepatch-listen'")
    sql(dsn, "INSERT INTO blocklist (filename, reason, source) VALUES (%s, 'x', 'local')", (NAME,))
    wait_for(lambda: status(b) == 403, timeout=5, what="b to see a block made while it was deaf")
    wait_for(lambda: listening(b), timeout=10, what="b's listener to come back")
    assert a.admin("DELETE", f"/v1/admin/patches/{NAME}").status_code == 200
    wait_for(lambda: status(b) == 404, timeout=5, what="b to see the delete")
