"""First process inside a unit's new mount namespace.

Started by the controller as

    unshare --mount --propagation private -- python -I nsexec.py MOUNTS.json CWD -- PROGRAM ARGS...

It joins the unit's cgroup (so that every process the hook starts, services
included, can be found and stopped later), then builds the unit's view of the
machine, private to this namespace (the host and the other units see none of it):
the unit's own copy of /etc over /etc, read-only overlays that add mount points
to host folders, and the unit's private folders and files bind-mounted over the
real paths. Host mounts below a folder that gets covered are mounted again on
top, so the unit still sees them. Then it changes to CWD and execs PROGRAM with
the environment it was given. Services started by the hook inherit the namespace.
"""

import ctypes
import json
import os
import re
import sys

MS_BIND = 4096
MS_RDONLY = 1


def _mount(libc, src, dst, fstype=None, flags=MS_BIND, data=None):
    rc = libc.mount(src.encode(), dst.encode(), fstype.encode() if fstype else None, flags,
                    data.encode() if data else None)
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, "cannot mount %s on %s: %s" % (src, dst, os.strerror(err)))


def _mounts_below(path):
    """Mount points strictly below `path`, parents first (from mountinfo)."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4]
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), point)  # \040
            if point.startswith(path.rstrip("/") + "/"):
                found.append(point)
    return found


def _cover(libc, dst, mount):
    """Runs mount() over dst, then mounts again whatever the host had mounted below it."""
    held = []
    for point in _mounts_below(dst):
        try:
            held.append((point, os.open(point, os.O_PATH)))
        except OSError:
            pass
    mount()
    for point, fd in held:
        if os.path.lexists(point):
            _mount(libc, "/proc/self/fd/%d" % fd, point)
        os.close(fd)


def main(argv):
    spec_path, cwd = argv[1], argv[2]
    if argv[3] != "--":
        sys.stderr.write("nsexec: usage: nsexec.py MOUNTS CWD -- PROGRAM [ARGS]\n")
        return 2
    program = argv[4:]
    with open(spec_path) as f:
        spec = json.load(f)
    if spec.get("cgroup"):
        try:
            with open(os.path.join(spec["cgroup"], "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        except OSError as e:
            sys.stderr.write("jujusim nsexec: cannot join cgroup %s: %s\n" % (spec["cgroup"], e))
    elif spec.get("ns_record"):
        with open(spec["ns_record"], "a") as f:
            f.write(os.readlink("/proc/self/ns/mnt") + "\n")
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        if spec.get("etc"):
            _cover(libc, "/etc", lambda: _mount(libc, spec["etc"], "/etc"))
        for skeleton, folder in spec.get("overlays", []):
            _cover(libc, folder, lambda: _mount(
                libc, "overlay", folder, "overlay", MS_RDONLY,
                "lowerdir=%s:%s" % (skeleton, folder)))
        for src, dst in spec["binds"]:
            _mount(libc, src, dst)
    except OSError as e:
        sys.stderr.write("jujusim nsexec: %s\n" % e.strerror)
        return 126
    os.umask(0o022)
    try:
        os.chdir(cwd)
    except OSError as e:
        sys.stderr.write("jujusim nsexec: cannot chdir to %s: %s\n" % (cwd, e))
        return 126
    try:
        os.execvpe(program[0], program, os.environ)
    except OSError as e:
        sys.stderr.write("jujusim nsexec: cannot execute %s: %s\n" % (program[0], e))
        return 126


if __name__ == "__main__":
    sys.exit(main(sys.argv))
