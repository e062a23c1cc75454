"""sync trigger|reports (alias: report) and sync-tokens add|list|revoke."""

import click

from ..api_client import segment
from ..output import emit, emit_done
from ..state import AliasGroup, format_option, paging_options, pass_state

# A sync with --wait runs as long as the download of new patches takes.
WAIT_READ_TIMEOUT = 3600
RUN_COLUMNS = ["id", "started", "finished", "trigger", "result", "patches-added", "bytes", "error"]


@click.group(cls=AliasGroup, aliases={"report": "reports"})
def sync():
    """Patch sync from the upstream server."""


@sync.command("trigger")
@click.option("--wait", is_flag=True, help="Wait until the sync run ends and show its result.")
@format_option
@pass_state
def trigger(state, wait):
    """Start a sync from upstream now.

    \b
    Example:
      livepatch-admin sync trigger --wait
    """
    _, body = state.client().call("POST", "/v1/admin/sync/trigger", json={"wait": wait},
                                  read_timeout=WAIT_READ_TIMEOUT if wait else None, what="sync trigger")
    emit(state.fmt, body if body is not None else {})


@sync.command("reports")
@click.option("--limit", type=click.IntRange(min=1), help="How many recent runs (server default 20).")
@format_option
@pass_state
def reports(state, limit):
    """The last sync runs: start, end, result, patches added, bytes, error.

    Also answers to `sync report`.

    \b
    Example:
      livepatch-admin sync reports --format yaml
    """
    _, body = state.client().call("GET", "/v1/admin/sync/reports", params={"limit": limit}, what="sync reports")
    emit(state.fmt, body, columns=RUN_COLUMNS, empty="No sync runs yet.")


@sync.command("deployments")
@paging_options
@format_option
@pass_state
def deployments(state, limit, offset):
    """Downstream servers that sync from this one, with the machine counts they report.

    \b
    Example:
      livepatch-admin sync deployments
    """
    _, body = state.client().call("GET", "/v1/admin/sync/deployments", params={"limit": limit, "offset": offset},
                                  what="sync deployments")
    emit(state.fmt, body, columns=["deployment-id", "sync-token", "machine-count", "exact", "reported"],
         empty="No downstream deployments have reported.")


@click.group("sync-tokens")
def sync_tokens():
    """Tokens that let a downstream server sync from this one."""


@sync_tokens.command("add")
@click.argument("tier")
@click.argument("name")
@click.option("--valid-until", metavar="RFC3339", help="Expiry, e.g. 2027-01-01T00:00:00Z (default: none).")
@format_option
@pass_state
def add(state, tier, name, valid_until):
    """Create a sync token for a downstream server, scoped to TIER; prints it.

    The token is shown this once: the server keeps only its hash. Put it in the
    downstream server's sync_token.

    \b
    Example:
      livepatch-admin sync-tokens add stable datacenter-2
    """
    body = {"tier": tier, "name": name}
    if valid_until is not None:
        body["valid-until"] = valid_until
    _, answer = state.client().call("POST", "/v1/admin/sync-tokens", json=body, what="sync-tokens add")
    emit(state.fmt, answer, text=lambda data: data.get("token", "") if isinstance(data, dict) else "")


@sync_tokens.command("list")
@format_option
@pass_state
def list_sync_tokens(state):
    """List sync tokens (never the secret).

    \b
    Example:
      livepatch-admin sync-tokens list
    """
    _, body = state.client().call("GET", "/v1/admin/sync-tokens", what="sync-tokens list")
    emit(state.fmt, body, columns=["name", "tier", "created", "valid-until", "expired", "revoked"],
         empty="No sync tokens.")


@sync_tokens.command("revoke")
@click.argument("name")
@format_option
@pass_state
def revoke(state, name):
    """Revoke a sync token.

    \b
    Example:
      livepatch-admin sync-tokens revoke datacenter-2
    """
    _, body = state.client().call("DELETE", f"/v1/admin/sync-tokens/{segment(name)}",
                                  what=f"sync-tokens revoke {name}")
    emit_done(state.fmt, body, f"Sync token {name} revoked.")
