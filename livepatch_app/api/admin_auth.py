"""Admin sessions: log in with Basic credentials for a bearer token; log out."""

from flask import Blueprint, jsonify

from .. import context
from ..auth import bearer_token, check_basic, open_session, security_event
from ..auth_throttle import attempt
from ..data import sessions
from ..errors import Unauthorized
from ..tokens import token_hash
from .common import format_time

bp = Blueprint("admin_auth", __name__)


@bp.post("/v1/admin/login")
def login():
    user = check_basic()
    if user is None:
        raise Unauthorized("log in with HTTP Basic credentials", "missing-credentials",
                           headers={"WWW-Authenticate": 'Basic realm="livepatch"'})
    token, expires = open_session(user)
    return jsonify({"token": token, "expires": format_time(expires)})


@bp.post("/v1/admin/logout")
def logout():
    token = bearer_token()
    if token is None:
        raise Unauthorized("send the session token to revoke as Authorization: Bearer", "missing-credentials",
                           headers={"WWW-Authenticate": 'Bearer realm="livepatch"'})
    with attempt("admin") as checking:
        with context.db().transaction() as cur:
            revoked = sessions.revoke(cur, token_hash(token))
        if not revoked:
            checking.failed()
            raise Unauthorized("the session token is unknown or already revoked", "invalid-token")
        checking.succeeded()
    security_event("logout")
    return jsonify({"result": "logged out"})
