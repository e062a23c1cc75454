"""patch list|upload|remove|promote|promote-all|block|unblock."""

import os

import click

from ...patchname import InvalidName, parse_patch_name
from ..api_client import segment
from ..errors import USAGE, CLIError
from ..output import emit, emit_done, human_size
from ..state import format_option, paging_options, pass_state
from ..upload import ProgressFile, file_size

PATCH_COLUMNS = ["filename", "version", "kernel", "flavour", "architecture", "size", "tiers", "blocked"]
# Storing a large patch (hashing, writing to the store) may take a while after the
# last byte is sent: wait longer than for an ordinary call.
UPLOAD_READ_TIMEOUT = 600


@click.group()
def patch():
    """Patches: upload, list, promote between tiers, block, remove."""


@patch.command("list")
@click.option("--tier", help="Only patches visible in this tier.")
@click.option("--kernel", help="Kernel, e.g. 5.15.0-107.117.")
@click.option("--flavour", help="Flavour, e.g. generic, aws.")
@click.option("--architecture", help="amd64, arm64, s390x, ...")
@click.option("--version", "version", help="Patch version, e.g. 107.1.")
@click.option("--blocked/--not-blocked", default=None, help="Only blocked / only unblocked patches.")
@paging_options
@format_option
@pass_state
def list_patches(state, tier, kernel, flavour, architecture, version, blocked, limit, offset):
    """List patches, optionally filtered.

    \b
    Example:
      livepatch-admin patch list --tier stable --architecture amd64
    """
    params = {"tier": tier, "kernel": kernel, "flavour": flavour, "architecture": architecture, "version": version,
              "blocked": None if blocked is None else str(blocked).lower(), "limit": limit, "offset": offset}
    _, body = state.client().call("GET", "/v1/admin/patches", params=params, what="patch list")
    emit(state.fmt, body, columns=PATCH_COLUMNS, empty="No patches.")


@patch.command("upload")
@click.argument("files", nargs=-1, required=True, metavar="FILE...",
                type=click.Path(exists=True, dir_okay=False, readable=True))
@format_option
@pass_state
def upload(state, files):
    """Upload patch files; each lands in the first tier.

    Files are streamed (never read whole into memory), with progress on a
    terminal. The file name must be a patch file name; uploading the same name
    with the same bytes again changes nothing, with other bytes it is refused.
    Stops at the first file that fails. --format json prints a list, one server
    answer per file.

    \b
    Example:
      livepatch-admin patch upload livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2
    """
    for path in files:  # check every name before sending any bytes
        try:
            parse_patch_name(os.path.basename(path))
        except InvalidName as exc:
            raise CLIError(f"{path}: {exc}", USAGE) from None
    answers = []
    client = state.client()
    for path in files:
        name = os.path.basename(path)
        try:
            handle = open(path, "rb")
        except OSError as exc:
            raise CLIError(f"{path}: cannot read it: {exc.strerror}", USAGE) from None
        with handle:
            body = ProgressFile(handle, file_size(handle), name)
            try:
                status, answer = client.call("PUT", f"/v1/admin/patches/{segment(name)}", data=body,
                                             headers={"Content-Type": "application/octet-stream"},
                                             read_timeout=max(UPLOAD_READ_TIMEOUT, state.timeout), what=name)
            finally:
                body.finish()
        answers.append(answer if answer is not None else {"filename": name})
        if state.fmt == "table":
            click.echo(_uploaded_sentence(name, status, answer, body.size))
    if state.fmt != "table":
        emit(state.fmt, answers)


def _uploaded_sentence(name, status, answer, size):
    answer = answer if isinstance(answer, dict) else {}
    tiers = answer.get("tiers")
    where = f" in tier {', '.join(tiers)}" if isinstance(tiers, list) and tiers else ""
    what = "uploaded" if status == 201 or answer.get("created", True) else "already present"
    return f"{name}: {what} ({human_size(answer.get('size', size))}){where}"


@patch.command("remove")
@click.argument("filename")
@format_option
@pass_state
def remove(state, filename):
    """Remove a patch (its file and its tiers).

    \b
    Example:
      livepatch-admin patch remove livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2
    """
    _, body = state.client().call("DELETE", f"/v1/admin/patches/{segment(filename)}",
                                  what=f"patch remove {filename}")
    emit_done(state.fmt, body, f"Patch {filename} removed.")


@patch.command("promote")
@click.argument("version")
@click.argument("tier")
@format_option
@pass_state
def promote(state, version, tier):
    """Make the patches of VERSION visible in TIER.

    \b
    Example:
      livepatch-admin patch promote 107.1 stable
    """
    _, body = state.client().call("POST", f"/v1/admin/patches/{segment(version)}/promote", json={"tier": tier},
                                  what=f"patch promote {version}")
    emit_done(state.fmt, body, lambda data: f"Patch version {version} promoted to {tier}" + _visible(data))


@patch.command("promote-all")
@click.argument("source", metavar="FROM")
@click.argument("target", metavar="TO")
@format_option
@pass_state
def promote_all(state, source, target):
    """Make every patch of tier FROM visible in tier TO.

    \b
    Example:
      livepatch-admin patch promote-all candidate stable
    """
    _, body = state.client().call("POST", f"/v1/admin/tiers/{segment(source)}/promote-all", json={"to": target},
                                  what=f"patch promote-all {source}")
    emit_done(state.fmt, body, lambda data: f"Every patch of {source} promoted to {target}" + _visible(data))


def _visible(answer):
    tiers = answer.get("tiers") if isinstance(answer, dict) else None
    added = answer.get("added") if isinstance(answer, dict) else None
    where = f": now visible in {', '.join(tiers)}" if isinstance(tiers, list) and tiers else ""
    return where + (f" ({added} newly)." if isinstance(added, int) else ".")


@patch.command("block")
@click.argument("filename")
@click.option("--reason", default=None, help="Why (kept with the block, shown in lists).")
@format_option
@pass_state
def block(state, filename, reason):
    """Block a patch: offered to no machine and not downloadable.

    \b
    Example:
      livepatch-admin patch block livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2 --reason "oops on arm"
    """
    payload = {"reason": reason} if reason is not None else {}
    _, body = state.client().call("POST", f"/v1/admin/patches/{segment(filename)}/block", json=payload,
                                  what=f"patch block {filename}")
    emit_done(state.fmt, body, f"Patch {filename} blocked.")


@patch.command("unblock")
@click.argument("filename")
@format_option
@pass_state
def unblock(state, filename):
    """Lift the block on a patch.

    \b
    Example:
      livepatch-admin patch unblock livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2
    """
    _, body = state.client().call("POST", f"/v1/admin/patches/{segment(filename)}/unblock", json={},
                                  what=f"patch unblock {filename}")
    emit_done(state.fmt, body, f"Patch {filename} unblocked.")


@patch.command("blocklist")
@format_option
@pass_state
def blocklist(state):
    """List blocked patch file names (local blocks and those synced from upstream).

    \b
    Example:
      livepatch-admin patch blocklist
    """
    _, body = state.client().call("GET", "/v1/admin/blocklist", what="patch blocklist")
    emit(state.fmt, body, columns=["filename", "reason", "source", "created-at"], empty="No blocked patches.")
