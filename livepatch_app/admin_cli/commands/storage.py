"""storage refresh (import patch files dropped into the store: air-gapped use)
and storage patches (the known spelling of a patch listing)."""

import click

from ..output import emit, render
from ..state import format_option, paging_options, pass_state
from .patches import PATCH_COLUMNS


@click.group()
def storage():
    """The patch store."""


@storage.command("refresh")
@format_option
@pass_state
def refresh(state):
    """Import patch files found in the filesystem store or import folder.

    For air-gapped servers: copy the files fetched elsewhere into the folder,
    then run this.

    \b
    Example:
      livepatch-admin storage refresh
    """
    _, body = state.client().call("POST", "/v1/admin/storage/refresh", json={}, what="storage refresh",
                                  read_timeout=max(state.timeout, 600))
    emit(state.fmt, body if body is not None else {}, text=_refreshed)


def _refreshed(answer):
    """'Imported 2, skipped 0, rejected 1.' then one line per file."""
    if not isinstance(answer, dict) or not all(isinstance(answer.get(k), list) for k in ("imported", "skipped")):
        return render(answer)
    rejected = answer.get("rejected") or []
    lines = [f"Imported {len(answer['imported'])}, skipped {len(answer['skipped'])} (already stored), "
             f"rejected {len(rejected)}."]
    lines += [f"  imported  {name}" for name in answer["imported"]]
    lines += [f"  skipped   {name}" for name in answer["skipped"]]
    for item in rejected:
        if isinstance(item, dict):
            lines.append(f"  rejected  {item.get('filename')}: {item.get('reason')}")
    return "\n".join(lines)


@storage.command("patches")
@paging_options
@format_option
@pass_state
def patches(state, limit, offset):
    """List every stored patch (same as `patch list`).

    \b
    Example:
      livepatch-admin storage patches
    """
    _, body = state.client().call("GET", "/v1/admin/patches", params={"limit": limit, "offset": offset},
                                  what="storage patches")
    emit(state.fmt, body, columns=PATCH_COLUMNS, empty="No patches.")
