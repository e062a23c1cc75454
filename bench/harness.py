"""What every bench section shares: wrk (the native load generator), the `Bench`
run context (one embedded PostgreSQL, our servers as real `serve` processes, the
run's settings) and `Row`, one line of the printed table."""

import dataclasses
import os
import re
import secrets
import statistics
import subprocess
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "tests"), os.path.join(HERE, "..")]
from livetest import (create_database, free_port, process_memory, stop_process,  # noqa: E402
                      wait_until_up, with_dbname)

from livepatch_app.auth_users import hash_password  # noqa: E402

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclasses.dataclass
class Row:
    """One line of the table: `ratio` is ours / reference, oriented so that higher is
    better (throughput ours/ref, time ref/ours); `target` is the least it must reach and
    `p99_target_ms` the most its p99 latency may be."""
    work: str
    reference: str
    reference_figure: str
    ours_figure: str
    ratio: float
    target: float | None = None
    p99_ms: float | None = None
    p99_target_ms: float | None = None
    rss_mb: int | None = None
    errors: int = 0


def wrk_command(url, seconds, connections, script=None):
    """wrk's command line (2 threads, as many as cores)."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if script:
        command += ["-s", script]
    return command + [url]


def wrk(url, seconds, connections, script=None, env=None):
    """-> {"rps", "p99_ms", "errors"} of one wrk run."""
    out = subprocess.run(wrk_command(url, seconds, connections, script), capture_output=True, text=True,
                         check=True, env=dict(os.environ, **(env or {}))).stdout
    return wrk_figures(out)


def wrk_figures(out):
    """wrk's report -> {"rps", "p99_ms", "errors"}."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return {"rps": rps, "p99_ms": float(p99[1]) * _UNITS[p99[2]], "errors": errors}


def combined(results):
    """wrk figures of several runs -> one: mean rps, worst p99, all errors."""
    return {"rps": statistics.mean(r["rps"] for r in results), "p99_ms": max(r["p99_ms"] for r in results),
            "errors": sum(r["errors"] for r in results)}


class Server:
    """One of our servers: the production entry point (`python -m livepatch_app
    serve`) as a process of its own, with its admin credentials."""

    def __init__(self, process, url, password):
        self.process, self.url, self.password = process, url, password
        self.admin = ("admin", password)

    def rss_mb(self):
        return process_memory(self.process.pid, "VmRSS")

    def peak_rss_mb(self):
        return process_memory(self.process.pid, "VmHWM")


class Bench:
    """The run: the state folder, the admin DSN of the embedded PostgreSQL, wrk's
    duration and connections, the server options of this run (`--set`) and the
    waitress thread count they give (the references use the same)."""

    def __init__(self, state, admin_dsn, seconds, connections, settings, threads):
        self.state, self.admin_dsn = state, admin_dsn
        self.seconds, self.connections = seconds, connections
        self.settings, self.threads = settings, threads
        self._processes = []
        self.servers = []

    def wrk(self, url, script=None, env=None, seconds=None):
        return wrk(url, seconds or self.seconds, self.connections, script, env)

    def alternated(self, runs, rounds=3):
        """runs: {name: (url, script, env)} compared with each other. Each gets `rounds`
        wrk runs of seconds/rounds (the same load in all), taken in turn, round after
        round, so that a slow spell of this shared machine (other tenants' CPU shows as
        steal) falls on all of them alike. -> {name: figures}: the mean rps, the worst
        p99 of its runs, and all their errors."""
        seconds = max(1, round(self.seconds / rounds))
        found = {name: [] for name in runs}
        for _ in range(rounds):
            for name, (url, script, env) in runs.items():
                found[name].append(self.wrk(url, script, env, seconds))
        return {name: combined(results) for name, results in found.items()}

    def new_database(self, prefix="lp_bench_", admin_dsn=None):
        """A new, migrated database (on the run's PostgreSQL, or that of `admin_dsn`);
        -> its DSN."""
        name = prefix + uuid.uuid4().hex[:8]
        create_database(admin_dsn or self.admin_dsn, name)
        dsn = with_dbname(admin_dsn or self.admin_dsn, name)
        subprocess.run([sys.executable, "-m", "livepatch_app", "schema", "upgrade"], check=True,
                       env=dict(os.environ, LIVEPATCH_DATABASE_URL=dsn), stdout=subprocess.DEVNULL)
        return dsn

    def start_server(self, dsn, **settings):
        """Our server on `dsn` with this run's settings (plus `settings`), patch cache
        on as by default; -> Server, once it answers."""
        port = free_port()
        password = secrets.token_urlsafe(12)
        folder = os.path.join(self.state, f"server-{port}")
        values = dict(self.settings, **settings)
        env = {key: value for key, value in os.environ.items() if not key.startswith("LIVEPATCH_")}
        env.update({"LIVEPATCH_" + key.upper(): str(value) for key, value in values.items()})
        env.update({"LIVEPATCH_DATABASE_URL": dsn, "LIVEPATCH_PORT": str(port), "LIVEPATCH_LOG_LEVEL": "error",
                    "LIVEPATCH_AUTH_BASIC_USERS": f"admin:{hash_password(password, rounds=4)}",
                    "LIVEPATCH_PATCH_CACHE_PATH": os.path.join(folder, "cache"),
                    "LIVEPATCH_FILESTORE_PATH": os.path.join(folder, "store"),
                    "LIVEPATCH_URL_TEMPLATE": f"http://127.0.0.1:{port}/v1/patches/{{filename}}"})
        process = self.start(subprocess.Popen([sys.executable, "-m", "livepatch_app", "serve"], env=env,
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url)
        server = Server(process, url, password)
        self.servers.append(server)
        return server

    def start(self, process):
        """Keeps `process` to be stopped when the run ends; -> process."""
        self._processes.append(process)
        return process

    def stop(self, process):
        for server in self.servers:
            if server.process is process and process.poll() is None:
                server.peak = server.peak_rss_mb()  # its high-water mark, kept for the table
        stop_process(process, 15)
        if process in self._processes:
            self._processes.remove(process)

    def close(self):
        for process in list(self._processes):
            self.stop(process)
