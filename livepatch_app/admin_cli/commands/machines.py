"""machine list|forget."""

import click

from ..api_client import segment
from ..output import emit, emit_done
from ..state import format_option, paging_options, pass_state

MACHINE_COLUMNS = ["machine-id", "tier", "kernel", "architecture", "patch-state", "patch-version",
                   "client-version", "last-check-in"]


@click.group()
def machine():
    """Machines that enabled with an auth token and check in."""


@machine.command("list")
@click.option("--tier", help="Only machines in this tier.")
@click.option("--kernel", help="Only machines running this kernel.")
@click.option("--state", "patch_state", metavar="STATE", help="Only machines in this patch state (applied, ...).")
@click.option("--version", "version", help="Only machines on this patch version.")
@paging_options
@format_option
@pass_state
def list_machines(state, tier, kernel, patch_state, version, limit, offset):
    """List machines, optionally filtered, one page at a time.

    \b
    Example:
      livepatch-admin machine list --tier stable --state applied --limit 50
    """
    params = {"tier": tier, "kernel": kernel, "state": patch_state, "version": version,
              "limit": limit, "offset": offset}
    _, body = state.client().call("GET", "/v1/admin/machines", params=params, what="machine list")
    emit(state.fmt, body, columns=MACHINE_COLUMNS, empty="No machines.")


@machine.command("forget")
@click.argument("machine_id", metavar="MACHINE-ID")
@format_option
@pass_state
def forget(state, machine_id):
    """Forget a machine: its token stops working; it can enable again.

    \b
    Example:
      livepatch-admin machine forget 0d6e4b8a7e6f4d3c9f1a2b3c4d5e6f70
    """
    _, body = state.client().call("DELETE", f"/v1/admin/machines/{segment(machine_id)}",
                                  what=f"machine forget {machine_id}")
    emit_done(state.fmt, body, f"Machine {machine_id} forgotten.")
