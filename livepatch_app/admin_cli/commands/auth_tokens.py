"""auth-token (create, the known command) and auth-tokens list|revoke."""

import click

from ..api_client import segment
from ..output import emit, emit_done
from ..state import format_option, pass_state

TOKEN_COLUMNS = ["id", "tier", "created", "valid-until", "max-machines", "machines-enabled", "expired",
                 "revoked"]


@click.command("auth-token")
@click.argument("label", metavar="ID")
@click.argument("tier")
@click.option("--valid-until", metavar="RFC3339", help="Expiry, e.g. 2026-12-31T00:00:00Z (default: none).")
@click.option("--max-machines", type=int, metavar="N", help="How many machines may enable with it (default: any).")
@format_option
@pass_state
def auth_token(state, label, tier, valid_until, max_machines):
    """Create an auth token for TIER and print it.

    ID is a label of your choosing (unique). Machines enable with the token
    (`canonical-livepatch enable TOKEN`) and then get the patches of TIER.
    The token is shown this once: the server keeps only its hash.

    \b
    Example:
      livepatch-admin auth-token web-servers stable --valid-until 2026-12-31T00:00:00Z
    """
    body = {"id": label, "tier": tier}
    if valid_until is not None:
        body["valid-until"] = valid_until
    if max_machines is not None:
        body["max-machines"] = max_machines
    _, answer = state.client().call("POST", "/v1/admin/auth-token", json=body, what="auth-token")
    emit(state.fmt, answer, text=lambda data: data.get("token", "") if isinstance(data, dict) else "")


@click.group("auth-tokens")
def auth_tokens():
    """List and revoke the auth tokens that enable machines."""


@auth_tokens.command("list")
@format_option
@pass_state
def list_tokens(state):
    """List auth tokens (label, tier, expiry, machines enabled; never the secret).

    \b
    Example:
      livepatch-admin auth-tokens list --format json
    """
    _, body = state.client().call("GET", "/v1/admin/auth-tokens", what="auth-tokens list")
    emit(state.fmt, body, columns=TOKEN_COLUMNS, empty="No auth tokens.")


@auth_tokens.command("revoke")
@click.argument("label", metavar="ID")
@format_option
@pass_state
def revoke_token(state, label):
    """Revoke an auth token: no new machine can enable with it.

    \b
    Example:
      livepatch-admin auth-tokens revoke web-servers
    """
    _, body = state.client().call("DELETE", f"/v1/admin/auth-tokens/{segment(label)}",
                                  what=f"auth-tokens revoke {label}")
    emit_done(state.fmt, body, f"Auth token {label} revoked.")
