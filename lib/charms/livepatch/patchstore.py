"""No patch lost when the unit's patch store changes (docs/migration.md).

The unit remembers (unitdata) the store all its patches are known to be on:
(kind, folder). When config asks for another one (patchstore filesystem <->
postgres, or another filestore_path), or after an upgrade-charm (forget():
the legacy charm left patch files under their own names in its folder), the
server's `storage adopt` runs with the NEW config, before that config is
written where the service reads it: it imports the folder's patch files
through the import path and copies every patch the old store keeps into the
new one, sha256 checked, then points the patch at its copy. Only when every
patch made it is the new config written and the service restarted; otherwise
the unit blocks and the service keeps serving from the old store.
"""

import json
import os

from charmhelpers.core import hookenv, unitdata

from . import paths, system

STORE_KEY = "livepatch.patchstore"  # [kind, folder] every patch is known to be on
NEXT_CONFIG = "livepatch.next.yaml"  # the config to move onto, beside the real one


class MoveFailed(RuntimeError):
    """Some patch could not be brought onto the new store; the message says how many."""


def target(settings):
    """(kind, folder) the settings ask for; folder is the filesystem store's (also
    kept for postgres: it is where the legacy files may lie)."""
    kind = "filesystem" if settings["patchstore"] in ("filesystem", "file") else "postgres"
    return [kind, os.path.normpath(settings["filestore_path"])]


def pending(settings):
    return unitdata.kv().get(STORE_KEY) != target(settings)


def record(settings):
    unitdata.kv().set(STORE_KEY, target(settings))


def forget():
    """After an upgrade: look at the store folder again on the next converge."""
    unitdata.kv().unset(STORE_KEY)


def next_config_file():
    return os.path.join(paths.CONFIG_DIR, NEXT_CONFIG)


def write_next_config(config_text):
    system.ensure_dir(paths.CONFIG_DIR, paths.ADMIN, paths.GROUP, 0o750)
    system.write_file(next_config_file(), config_text, paths.ADMIN, paths.GROUP, 0o640)
    return next_config_file()


def folders(settings):
    """The folders patches may lie in: the one asked for and the one recorded."""
    found = [target(settings)[1]]
    recorded = unitdata.kv().get(STORE_KEY)
    if recorded and recorded[1] not in found:
        found.append(recorded[1])
    return found


def move(settings, config_file, python=None):
    """Run `storage adopt` with config_file -> its result {store, imported, present,
    moved, failed}; logs what it did; MoveFailed when a patch did not make it."""
    argv = [python or paths.venv_python(), "-m", "livepatch_app", "storage", "adopt", "--config", config_file]
    for folder in folders(settings):
        argv += ["--legacy-folder", folder, "--from-folder", folder]
    kind = target(settings)[0]
    try:
        out = system.run(argv, timeout=3600)
        failed = None
    except system.CommandFailed as exc:
        out, failed = getattr(exc, "stdout", ""), str(exc)
    result = _parse(out)
    if result is None:
        hookenv.log(f"patch store {kind}: storage adopt failed: {failed or 'no JSON result'}", hookenv.ERROR)
        raise MoveFailed(f"storage adopt failed: {(failed or 'no result').split(': ', 1)[-1]}")
    for item in result["failed"]:
        hookenv.log(f"patch store {kind}: {item['filename']} not moved: {item['reason']}", hookenv.ERROR)
    hookenv.log(
        f"patch store {kind} ({', '.join(folders(settings))}): {len(result['imported'])} legacy files imported, "
        f"{len(result['moved'])} patches copied into it, {len(result['present'])} already there, "
        f"{len(result['failed'])} failed", hookenv.WARNING if result["failed"] else hookenv.INFO)
    if result["failed"]:
        count = len(result["failed"])
        raise MoveFailed(f"{count} patch{'es' if count != 1 else ''} could not be moved")
    if kind == "filesystem":
        system.chown_tree(target(settings)[1], paths.USER, paths.GROUP)
    return result


def _parse(out):
    for line in reversed((out or "").strip().splitlines()):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and all(k in data for k in ("imported", "present", "moved", "failed")):
            return data
    return None
