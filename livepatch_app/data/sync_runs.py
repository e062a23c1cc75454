"""Records of patch sync runs (downstream side)."""


def last_run(cur):
    cur.execute("""SELECT id, started_at, finished_at, trigger, result, patches_added, bytes, error
                   FROM sync_runs ORDER BY started_at DESC, id DESC LIMIT 1""")
    return cur.fetchone()
