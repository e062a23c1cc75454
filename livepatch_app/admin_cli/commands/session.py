"""login / logout: the session token kept per server in the user's config folder."""

import sys

import click

from ..errors import AUTH, USAGE, CLIError
from ..output import emit
from ..state import basic_header, format_option, parse_credentials, pass_state


@click.command()
@click.option("-a", "--auth", "credentials", metavar="USER:PASSWORD",
              help="Admin credentials (one of the server's auth_basic_users). "
                   "Give USER alone on a terminal to be asked for the password.")
@format_option
@pass_state
def login(state, credentials):
    """Log in and keep the session token for this server.

    The token (valid 240 h) is stored, readable by you alone, in
    $XDG_CONFIG_HOME/livepatch-admin/ (or ~/.config/livepatch-admin/), one per
    server URL; every other command uses it until `logout`.

    \b
    Example:
      export LIVEPATCH_URL=http://haproxy.example
      livepatch-admin login -a admin:s3cret
    """
    credentials = credentials or state.auth
    if not credentials:
        if not sys.stdin.isatty():
            raise CLIError("give the admin credentials with -a USER:PASSWORD", USAGE)
        credentials = click.prompt("User", err=True)
    user, password = parse_credentials(credentials)
    url = state.url
    _, body = state.client().call("POST", "/v1/admin/login", authorization=basic_header(user, password),
                                  what="login")
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise CLIError(f"login: the server at {url} answered without a session token")
    expires = body.get("expires")
    previous = state.store.get(url)
    state.store.put(url, token, user, expires)
    if previous is not None:  # logging in again: revoke the session it replaces (best effort)
        try:
            state.client().call("POST", "/v1/admin/logout", authorization=f"Bearer {previous['token']}")
        except CLIError:
            pass
    # The session token itself is never printed: it is a credential, kept in the file.
    emit(state.fmt, {"server": url, "user": user, "expires": expires},
         text=f"Logged in to {url} as {user} (session expires {expires or 'later'}).")


@click.command()
@format_option
@pass_state
def logout(state):
    """Revoke this server's session token and forget it.

    The local copy is forgotten even when the server cannot be reached (the
    error says so); the server then lets the token expire on its own.

    \b
    Example:
      livepatch-admin logout
    """
    url = state.url
    entry = state.store.get(url)
    if entry is None:
        emit(state.fmt, {"server": url, "logged-out": False}, text=f"Not logged in to {url}.")
        return
    try:
        state.client().call("POST", "/v1/admin/logout", authorization=f"Bearer {entry['token']}", what="logout")
    except CLIError as exc:
        state.store.forget(url)
        if exc.exit_code != AUTH:  # 401: the server had already dropped it, which is what we wanted
            raise CLIError(f"{exc.message}; the local session was forgotten, the server keeps it until it expires",
                           exc.exit_code) from None
    state.store.forget(url)
    emit(state.fmt, {"server": url, "logged-out": True}, text=f"Logged out of {url}.")
