"""Downstream deployments as they report themselves to us (upstream side), and
the facts our own reports upstream are made of (downstream side)."""

import uuid

_LOCAL_ID_KEY = "deployment_id"


def record(cur, deployment_id, sync_token_id, machine_count, exact):
    cur.execute(
        """INSERT INTO sync_deployments (deployment_id, sync_token_id, machine_count, exact, reported_at)
           VALUES (%s, %s, %s, %s, now())
           ON CONFLICT (deployment_id) DO UPDATE
           SET sync_token_id = EXCLUDED.sync_token_id, machine_count = EXCLUDED.machine_count,
               exact = EXCLUDED.exact, reported_at = EXCLUDED.reported_at
           RETURNING deployment_id, machine_count, exact, reported_at""",
        (deployment_id, sync_token_id, machine_count, exact))
    return cur.fetchone()


def list_all(cur, limit, offset):
    cur.execute(
        """SELECT d.deployment_id, s.name AS sync_token, d.machine_count, d.exact, d.reported_at
           FROM sync_deployments d LEFT JOIN sync_tokens s ON s.id = d.sync_token_id
           ORDER BY d.deployment_id LIMIT %s OFFSET %s""",
        (limit, offset))
    return cur.fetchall()


def local_machine_count(cur):
    """How many machines this server has enabled (what we report upstream)."""
    cur.execute("SELECT count(*) AS n FROM machines WHERE enabled")
    return cur.fetchone()["n"]


def local_deployment_id(cur):
    """This deployment's id when the config sets none: made once, then kept."""
    cur.execute("INSERT INTO server_state (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
                (_LOCAL_ID_KEY, str(uuid.uuid4())))
    cur.execute("SELECT value FROM server_state WHERE key = %s", (_LOCAL_ID_KEY,))
    return cur.fetchone()["value"]
