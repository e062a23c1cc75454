"""The unit's operating system: commands, the service user, folders and files."""

import grp
import os
import pwd
import subprocess
import tempfile

from . import paths


class CommandFailed(RuntimeError):
    """A system command failed; the message names it and its last line of error output;
    .stdout is what it printed (some commands report on stdout even when they fail)."""

    stdout = ""


def run(argv, env=None, timeout=120):
    """Run a command; return its stdout, or raise CommandFailed with a useful message."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    except FileNotFoundError:
        raise CommandFailed(f"{argv[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise CommandFailed(f"{' '.join(argv[:2])} did not finish within {timeout}s") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout or "").strip().splitlines()
        detail = lines[-1] if lines else "no output"
        exc = CommandFailed(f"{' '.join(argv[:2])} failed (exit {done.returncode}): {detail}")
        exc.stdout = done.stdout or ""
        raise exc
    return done.stdout


def ensure_user():
    """Create the unprivileged system user the service runs as; True if created."""
    try:
        pwd.getpwnam(paths.USER)
        return False
    except KeyError:
        pass
    run(
        [
            "useradd", "--system", "--user-group",
            "--home-dir", paths.STATE_DIR, "--no-create-home",
            "--shell", "/usr/sbin/nologin",
            "--comment", "Livepatch on-prem server",
            paths.USER,
        ]
    )
    return True


def _ids(owner, group):
    return pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid


def ensure_dir(path, owner="root", group="root", mode=0o755):
    os.makedirs(path, exist_ok=True)
    uid, gid = _ids(owner, group)
    os.chown(path, uid, gid)
    os.chmod(path, mode)


def chown_tree(path, owner, group):
    """Give a folder and everything in it (not following links) to owner:group."""
    uid, gid = _ids(owner, group)
    for folder, dirs, files in os.walk(path):
        os.lchown(folder, uid, gid)
        for name in dirs + files:
            os.lchown(os.path.join(folder, name), uid, gid)


def write_file(path, content, owner="root", group="root", mode=0o644):
    """Write atomically with the given owner and mode; True if the content changed.

    The mode is set before any byte is written, so a secret never sits in a
    world-readable file, not even for a moment.
    """
    data = content.encode("utf-8")
    uid, gid = _ids(owner, group)
    try:
        with open(path, "rb") as handle:
            unchanged = handle.read() == data
    except FileNotFoundError:
        unchanged = False
    if unchanged:
        os.chown(path, uid, gid)
        os.chmod(path, mode)
        return False
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        os.fchmod(fd, mode)
        os.fchown(fd, uid, gid)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True
