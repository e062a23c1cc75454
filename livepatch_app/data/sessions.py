"""Admin session tokens (from POST /v1/admin/login)."""


def create(cur, token_hash, username, lifetime_hours):
    cur.execute(
        """INSERT INTO admin_sessions (token_hash, username, expires_at)
           VALUES (%s, %s, now() + make_interval(hours => %s))
           RETURNING expires_at""",
        (token_hash, username, lifetime_hours),
    )
    return cur.fetchone()["expires_at"]


def find_valid(cur, token_hash):
    cur.execute(
        """SELECT username, expires_at FROM admin_sessions
           WHERE token_hash = %s AND revoked_at IS NULL AND expires_at > now()""",
        (token_hash,),
    )
    return cur.fetchone()


def revoke(cur, token_hash):
    cur.execute("UPDATE admin_sessions SET revoked_at = now() WHERE token_hash = %s AND revoked_at IS NULL",
                (token_hash,))
    return cur.rowcount > 0


def purge_expired(cur):
    cur.execute("DELETE FROM admin_sessions WHERE expires_at < now() - interval '1 day'")
    return cur.rowcount
