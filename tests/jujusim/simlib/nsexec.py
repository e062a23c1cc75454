"""First process inside a unit's new mount namespace.

Started by the controller as

    unshare --mount --propagation private -- python -I nsexec.py MOUNTS.json CWD -- PROGRAM ARGS...

It joins the unit's cgroup (so that every process the hook starts, services
included, can be found and stopped later), bind-mounts the unit's private folders
and files over the real paths (private to this namespace: the host and the other
units do not see them), changes to CWD and execs PROGRAM with the environment it
was given. Services started by the hook inherit the namespace.
"""

import ctypes
import json
import os
import sys

MS_BIND = 4096


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
    for src, dst in spec["binds"]:
        rc = libc.mount(src.encode(), dst.encode(), None, MS_BIND, None)
        if rc != 0:
            err = ctypes.get_errno()
            sys.stderr.write("jujusim nsexec: cannot bind %s on %s: %s\n"
                             % (src, dst, os.strerror(err)))
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
