"""tier list|create|delete|patches."""

import click

from ..api_client import segment
from ..output import emit, emit_done
from ..state import format_option, paging_options, pass_state
from .patches import PATCH_COLUMNS


@click.group()
def tier():
    """Tiers: the ordered stages a patch moves through."""


@tier.command("list")
@format_option
@pass_state
def list_tiers(state):
    """List tiers in order, first (where uploads land) to last.

    \b
    Example:
      livepatch-admin tier list
    """
    _, body = state.client().call("GET", "/v1/admin/tiers", what="tier list")
    emit(state.fmt, body, columns=["name", "position", "patches", "machines", "created-at"], empty="No tiers.")


@tier.command("create")
@click.argument("name")
@click.option("--after", metavar="TIER", help="Place the new tier right after this one (default: last).")
@format_option
@pass_state
def create_tier(state, name, after):
    """Create a tier.

    \b
    Example:
      livepatch-admin tier create canary --after edge
    """
    body = {"name": name}
    if after is not None:
        body["after"] = after
    _, answer = state.client().call("POST", "/v1/admin/tiers", json=body, what=f"tier create {name}")
    emit_done(state.fmt, answer, f"Tier {name} created" + (f" after {after}." if after else "."))


@tier.command("delete")
@click.argument("name")
@format_option
@pass_state
def delete_tier(state, name):
    """Delete a tier (refused while machines or tokens use it).

    \b
    Example:
      livepatch-admin tier delete canary
    """
    _, answer = state.client().call("DELETE", f"/v1/admin/tiers/{segment(name)}", what=f"tier delete {name}")
    emit_done(state.fmt, answer, f"Tier {name} deleted.")


@tier.command("patches")
@click.argument("name")
@paging_options
@format_option
@pass_state
def tier_patches(state, name, limit, offset):
    """List the patches visible in a tier.

    \b
    Example:
      livepatch-admin tier patches stable
    """
    _, body = state.client().call("GET", f"/v1/admin/tiers/{segment(name)}/patches",
                                  params={"limit": limit, "offset": offset}, what=f"tier patches {name}")
    emit(state.fmt, body, columns=PATCH_COLUMNS, empty=f"No patches in tier {name}.")
