"""report machines|patch-health."""

import click

from ..output import emit
from ..state import format_option, pass_state
from .machines import MACHINE_COLUMNS


@click.group()
def report():
    """Reports on machines and patch health."""


@report.command("machines")
@click.argument("tier")
@click.argument("version", required=False)
@click.argument("patch_state", metavar="[STATE]", required=False)
@format_option
@pass_state
def machines(state, tier, version, patch_state):
    """Machines of TIER, optionally on patch VERSION, optionally in STATE.

    \b
    Example:
      livepatch-admin report machines stable 107.1 applied
    """
    params = {"tier": tier, "version": version, "state": patch_state}
    _, body = state.client().call("GET", "/v1/admin/reports/machines", params=params, what="report machines")
    emit(state.fmt, body, columns=MACHINE_COLUMNS, empty="No machines match.")


@report.command("patch-health")
@click.argument("tier")
@click.argument("version")
@format_option
@pass_state
def patch_health(state, tier, version):
    """How the machines of TIER fare with patch VERSION: counts by patch state.

    \b
    Example:
      livepatch-admin report patch-health stable 107.1
    """
    params = {"tier": tier, "version": version}
    _, body = state.client().call("GET", "/v1/admin/reports/patch-health", params=params,
                                  what="report patch-health")
    emit(state.fmt, body)
