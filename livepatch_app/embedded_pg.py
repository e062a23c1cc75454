"""An embedded PostgreSQL for `make run` and the tests: the server binaries that the
`pgserver` package ships, driven with initdb and pg_ctl, listening on 127.0.0.1 only.

PostgreSQL refuses to run as root. pgserver's own answer, when run as root, is to
add a `pgserver` system user and open up the folders above its files, which leaves
the machine changed. Here, as root, every PostgreSQL command runs instead in a user
namespace of its own (`unshare --user --map-user`): inside it the process is an
ordinary user id, outside it is still root, so the files stay root's and nothing
on the host (users, groups, permissions) is touched.
"""

import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile

# Inside the user namespace the server runs as this id (nobody): any non-zero id works.
_NAMESPACE_ID = "65534"
SUPERUSER = "postgres"


class EmbeddedPostgresError(Exception):
    """PostgreSQL could not be set up or started; the message says why."""


def _bin_dir():
    # Found, not imported: importing pgserver starts its own machinery (and warnings).
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the pgserver package is not installed (pip install pgserver)")
    path = os.path.join(spec.submodule_search_locations[0], "pginstall", "bin")
    if not os.path.exists(os.path.join(path, "postgres")):
        raise EmbeddedPostgresError(f"no PostgreSQL binaries in {path}")
    return path


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedPostgres:
    """A cluster in `folder` (created on first start, reused after). `start()` gives a
    libpq DSN for the superuser; `stop()` shuts the server down; `delete()` also
    removes the folder. `durable=False` (throwaway test clusters) turns off fsync."""

    def __init__(self, folder, durable=True):
        self.folder = os.path.abspath(folder)
        self.durable = durable
        self.data = os.path.join(self.folder, "data")
        self.bin = _bin_dir()
        self.port = None
        # A unix socket path must stay under ~100 bytes: a short folder of its own.
        self.socket_dir = tempfile.mkdtemp(prefix="lp-pgsock-")

    def _run(self, program, *args):
        command = [os.path.join(self.bin, program), *args]
        if os.geteuid() == 0:
            command = ["unshare", "--user", f"--map-user={_NAMESPACE_ID}",
                       f"--map-group={_NAMESPACE_ID}", "--", *command]
        try:
            result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        except FileNotFoundError as exc:
            raise EmbeddedPostgresError(f"cannot run {exc.filename}") from None
        return result

    def _check(self, result, what):
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise EmbeddedPostgresError(f"{what} failed: {' / '.join(detail)}")

    def _running_port(self):
        """The port of a server already running on this cluster, or None."""
        if self._run("pg_ctl", "status", "-D", self.data).returncode != 0:
            return None
        try:
            with open(os.path.join(self.data, "postmaster.pid"), encoding="utf-8") as handle:
                return int(handle.read().splitlines()[3])
        except (OSError, IndexError, ValueError):
            return None

    def start(self):
        os.makedirs(self.folder, mode=0o700, exist_ok=True)
        if not os.path.exists(os.path.join(self.data, "PG_VERSION")):
            shutil.rmtree(self.data, ignore_errors=True)  # a half-made cluster from a crash
            self._check(self._run("initdb", "-D", self.data, "-U", SUPERUSER, "--auth=trust",
                                  "-E", "UTF8", "--locale=C", "--no-sync"), "initdb")
        os.makedirs(self.socket_dir, exist_ok=True)
        running = self._running_port()
        if running is not None:
            self.port = running
        else:
            self.port = self.port or _free_port()  # a restart keeps the DSN its clients hold
            options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.socket_dir}"
            if not self.durable:
                options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            self._check(self._run("pg_ctl", "start", "-D", self.data, "-w", "-t", "60",
                                  "-l", os.path.join(self.folder, "postgresql.log"), "-o", options),
                        "starting PostgreSQL (see postgresql.log)")
        return self.dsn()

    def dsn(self, dbname="postgres"):
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={dbname}"

    def stop(self, mode="fast"):
        """mode "immediate" is a crash as far as the data is concerned (no checkpoint):
        what a durability test wants."""
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._run("pg_ctl", "stop", "-D", self.data, "-m", mode, "-w", "-t", "60")
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    def delete(self):
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
