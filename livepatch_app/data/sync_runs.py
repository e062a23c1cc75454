"""Records of patch sync runs (downstream side), and the application-wide
advisory locks that keep to one sync run (and one import-folder refresh) at a
time across all units."""

# Session-level locks, each taken on a dedicated connection held for the whole
# run: "LPSY" for sync, "LPIM" for the air-gapped import.
SYNC_LOCK_ID = 0x4C50_5359
IMPORT_LOCK_ID = 0x4C50_494D

_COLUMNS = "id, started_at, finished_at, trigger, result, patches_added, bytes, error"


def try_lock(cur, lock_id=SYNC_LOCK_ID):
    cur.execute("SELECT pg_try_advisory_lock(%s) AS locked", (lock_id,))
    return cur.fetchone()["locked"]


def unlock(cur, lock_id=SYNC_LOCK_ID):
    cur.execute("SELECT pg_advisory_unlock(%s) AS unlocked", (lock_id,))
    return cur.fetchone()["unlocked"]


def start(cur, trigger):
    cur.execute(f"INSERT INTO sync_runs (trigger) VALUES (%s) RETURNING {_COLUMNS}", (trigger,))
    return cur.fetchone()


def finish(cur, run_id, result, patches_added, nbytes, error):
    cur.execute(
        f"""UPDATE sync_runs SET finished_at = now(), result = %s, patches_added = %s, bytes = %s, error = %s
            WHERE id = %s RETURNING {_COLUMNS}""",
        (result, patches_added, nbytes, error, run_id))
    return cur.fetchone()


def abandon_running(cur):
    """Runs still marked running while we hold the lock died with their process."""
    cur.execute("""UPDATE sync_runs SET finished_at = now(), result = 'failed',
                   error = 'interrupted: the server stopped during this run'
                   WHERE result = 'running'""")
    return cur.rowcount


def find(cur, run_id):
    cur.execute(f"SELECT {_COLUMNS} FROM sync_runs WHERE id = %s", (run_id,))
    return cur.fetchone()


def recent(cur, limit):
    cur.execute(f"SELECT {_COLUMNS} FROM sync_runs ORDER BY started_at DESC, id DESC LIMIT %s", (limit,))
    return cur.fetchall()


def last_run(cur):
    cur.execute(f"SELECT {_COLUMNS} FROM sync_runs ORDER BY started_at DESC, id DESC LIMIT 1")
    return cur.fetchone()


def last_outcomes(cur):
    """-> {"last_result": the result of the last finished run or None,
    "last_success": when the last successful run finished, or None}."""
    cur.execute("""SELECT (SELECT result FROM sync_runs WHERE result <> 'running'
                           ORDER BY finished_at DESC, id DESC LIMIT 1) AS last_result,
                          (SELECT max(finished_at) FROM sync_runs WHERE result = 'success') AS last_success""")
    return cur.fetchone()
