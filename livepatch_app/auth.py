"""Credentials on requests: admin (Bearer session token or HTTP Basic against the
configured bcrypt users) and the bearer-token parsing the client views share."""

import base64
import binascii
import functools
import logging

from flask import g, request

from . import context
from .auth_throttle import attempt
from .auth_users import check_password
from .data import sessions
from .errors import Unauthorized
from .log_paths import loggable_path
from .logs import log_fields
from .tokens import new_session_token, token_hash

SESSION_HOURS = 240
security_log = logging.getLogger("livepatch.security")


def _split(header):
    scheme, _, value = header.partition(" ")
    return scheme.lower(), value.strip()


def _authorization():
    return _split(request.headers.get("Authorization", ""))


def bearer_token(header=None):
    """The Bearer token of the request (or of an Authorization `header`), or None."""
    scheme, value = _authorization() if header is None else _split(header)
    return value if scheme == "bearer" and value else None


def basic_credentials():
    """(user, password) from HTTP Basic, or None. Malformed headers are 401."""
    scheme, value = _authorization()
    if scheme != "basic":
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("malformed Basic credentials", "invalid-credentials") from None
    user, sep, password = decoded.partition(":")
    if not sep:
        raise Unauthorized("malformed Basic credentials", "invalid-credentials")
    return user, password


def security_event(event, **fields):
    log_fields(security_log, logging.INFO, event, type="security", event=event,
               method=request.method, path=loggable_path(), source=request.remote_addr, **fields)


def check_credentials(user, password):
    """An admin user name and password (from Basic credentials or the console's login
    form), checked against auth_basic_users under the admin login throttle: -> user;
    Unauthorized invalid-credentials when wrong, TooManyAttempts (429) while throttled."""
    with attempt("admin", user) as checking:  # 429 while throttled: no bcrypt work then
        if not check_password(context.config().auth_basic_users, user, password):
            checking.failed()
            security_event("authn_failed", user=user)
            raise Unauthorized("wrong user name or password", "invalid-credentials")
        checking.succeeded()
    return user


def check_basic():
    """The admin user named by valid Basic credentials, or None when none were sent."""
    creds = basic_credentials()
    if creds is None:
        return None
    return check_credentials(*creds)


def open_session(user):
    """A new admin session for `user` -> (token, expires): the token is random and
    only its hash is stored (admin_sessions), so it is shown once, to its holder."""
    token = new_session_token()
    with context.db().transaction() as cur:
        expires = sessions.create(cur, token_hash(token), user, SESSION_HOURS)
    security_event("login", user=user)
    return token, expires


def session_user(token):
    """The user of a valid (known, unexpired, unrevoked) session token, or None; None
    too when that user is no longer in auth_basic_users (removing an admin ends their
    sessions)."""
    with context.db().transaction() as cur:
        session = sessions.find_valid(cur, token_hash(token))
    if session is None or context.config().auth_basic_users.get(session["username"]) is None:
        return None
    return session["username"]


def close_session(token):
    """Revokes the session -> whether it was live."""
    with context.db().transaction() as cur:
        revoked = sessions.revoke(cur, token_hash(token))
    if revoked:
        security_event("logout")
    return revoked


def authenticate_admin():
    token = bearer_token()
    if token is not None:
        with attempt("admin") as checking:
            user = session_user(token)
            if user is None:
                checking.failed()
                security_event("authn_failed", reason="unknown, expired or revoked session token")
                raise Unauthorized("the session token is unknown, expired or revoked: log in again", "invalid-token")
            checking.succeeded()
        return user
    user = check_basic()
    if user is None:
        raise Unauthorized("admin credentials required (Bearer token or Basic)", "missing-credentials",
                           headers={"WWW-Authenticate": 'Basic realm="livepatch"'})
    return user


def admin_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        g.admin_user = authenticate_admin()
        if request.method not in ("GET", "HEAD"):
            security_event("authz_admin", user=g.admin_user)
        return view(*args, **kwargs)

    return wrapper
