"""`make bench`: the server's hot paths measured with wrk (a native load generator)
against references started in the same run (bench/references.py), on loopback only.

Starts an embedded PostgreSQL (durable, as in production) and the production entry
point (`python -m livepatch_app serve`, patch cache on as by default), seeds one
1 MiB patch and a few hundred enabled machines, then runs `wrk -t2 -c32` for each row:

  download  a 1 MiB patch: nginx sendfile | Flask send_from_directory | ours (after its
            first download, so from the per-unit patch cache)
  check-in  POST /v1/client/{id}/updates: a Flask view answering {"patches": []} | ours
            (each request a different machine, one patch offered, the report committed)

and prints one table: reference, ours, ratio, p99, the server's RSS. Ratios are what
count: on two cores the load generator shares the CPU with the server.

Usage: .venv/bin/python bench/bench.py [--seconds 8] [--connections 32] [--output FILE]
"""

import argparse
import datetime
import os
import platform
import re
import secrets
import subprocess
import sys
import tempfile
import time
import uuid

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "tests"), os.path.join(HERE, "..")]
import references  # noqa: E402
from livetest import free_port, process_memory, wait_until_up  # noqa: E402

from livepatch_app.auth_users import hash_password  # noqa: E402
from livepatch_app.embedded_pg import EmbeddedPostgres  # noqa: E402

PATCH = "livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2"
PATCH_BYTES = 1024 * 1024
MACHINES = 300
REPORT = ('{"kernel": "5.15.0-107.117-generic", "architecture": "amd64", "patch-state": "applied", '
          '"patch-version": "107.1", "client-version": "10.8.0"}')
CHECK_IN_LUA = """
local machines = {}
for line in io.lines(os.getenv("LP_MACHINES")) do
  local id, token = line:match("(%S+) (%S+)")
  machines[#machines + 1] = {id, token}
end
local body = os.getenv("LP_REPORT")
local n = math.random(#machines)
request = function()
  n = n % #machines + 1
  local m = machines[n]
  return wrk.format("POST", "/v1/client/" .. m[1] .. "/updates",
                    {["Authorization"] = "Bearer " .. m[2], ["Content-Type"] = "application/json"}, body)
end
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def wrk(url, seconds, connections, script=None, env=None):
    """-> {"rps", "p99_ms", "errors"} of one wrk run (2 threads, as many as cores)."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if script:
        command += ["-s", script]
    out = subprocess.run(command + [url], capture_output=True, text=True, check=True,
                         env=dict(os.environ, **(env or {}))).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return {"rps": rps, "p99_ms": float(p99[1]) * _UNITS[p99[2]], "errors": errors}


def start_server(dsn, state, port, password, settings):
    env = {key: value for key, value in os.environ.items() if not key.startswith("LIVEPATCH_")}
    env.update({"LIVEPATCH_" + key.upper(): str(value) for key, value in settings.items()})
    env.update({"LIVEPATCH_DATABASE_URL": dsn, "LIVEPATCH_PORT": str(port), "LIVEPATCH_LOG_LEVEL": "error",
                "LIVEPATCH_AUTH_BASIC_USERS": f"admin:{hash_password(password, rounds=4)}",
                "LIVEPATCH_PATCH_CACHE_PATH": os.path.join(state, "cache"),
                "LIVEPATCH_URL_TEMPLATE": f"http://127.0.0.1:{port}/v1/patches/{{filename}}"})
    return subprocess.Popen([sys.executable, "-m", "livepatch_app", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def seed(url, password, folder):
    """One patch (also written to `folder` for the references) and MACHINES enabled
    machines; -> the path of the machine list the check-in script reads."""
    admin = ("admin", password)
    data = os.urandom(PATCH_BYTES)
    with open(os.path.join(folder, PATCH), "wb") as handle:
        handle.write(data)
    requests.put(f"{url}/v1/admin/patches/{PATCH}", data=data, auth=admin, timeout=60).raise_for_status()
    token = requests.post(f"{url}/v1/admin/auth-token", json={"id": "bench", "tier": "edge"}, auth=admin,
                          timeout=10).json()["token"]
    lines, session = [], requests.Session()
    for _ in range(MACHINES):
        machine_id = uuid.uuid4().hex
        answer = session.put(f"{url}/v1/client/{machine_id}", headers={"Authorization": f"Bearer {token}"},
                             timeout=10)
        answer.raise_for_status()
        lines.append(f"{machine_id} {answer.json()['machine-token']}")
    check = session.post(f"{url}/v1/client/{lines[0].split()[0]}/updates", data=REPORT, timeout=10,
                         headers={"Authorization": f"Bearer {lines[0].split()[1]}",
                                  "Content-Type": "application/json"})
    assert check.status_code == 200 and check.json()["patches"], check.text
    requests.get(f"{url}/v1/patches/{PATCH}", timeout=10).raise_for_status()  # fills the patch cache
    path = os.path.join(folder, "machines.txt")
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def machine_line():
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    return (f"{os.cpu_count()} cores ({cpu}), {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') >> 30} GiB, "
            f"Linux {platform.release()}, Python {platform.python_version()}")


def table(rows, rss_mb, seconds, connections):
    lines = [f"Machine: {machine_line()}",
             f"Run: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; wrk -t2 -c{connections} "
             f"-d{seconds}s on 127.0.0.1 per row; references started in the same run.", "",
             "| work | reference | reference req/s | ours req/s | ratio | ours p99 | errors |",
             "|---|---|---|---|---|---|---|"]
    for work, ref_name, ref, ours in rows:
        lines.append(f"| {work} | {ref_name} | {ref['rps']:,.0f} | {ours['rps']:,.0f} | "
                     f"{ours['rps'] / ref['rps']:.2f}x | {ours['p99_ms']:.1f} ms | {ours['errors']} |")
    lines += ["", f"Server RSS after the runs: {rss_mb[0]:.0f} MB (peak {rss_mb[1]:.0f} MB)."]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--output", help="also write the table (markdown) to this file")
    parser.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                        help="a server option for this run, e.g. concurrency_limit=16")
    args = parser.parse_args()
    state = tempfile.mkdtemp(prefix="lp-bench-")
    files = os.path.join(state, "files")
    os.makedirs(files)
    pg = EmbeddedPostgres(os.path.join(state, "pg"), durable=True)
    dsn = pg.start()
    processes = []
    try:
        subprocess.run([sys.executable, "-m", "livepatch_app", "schema", "upgrade"], check=True,
                       env=dict(os.environ, LIVEPATCH_DATABASE_URL=dsn), stdout=subprocess.DEVNULL)
        from livepatch_app.config import load_config
        from livepatch_app.serve import waitress_options

        settings = dict(item.split("=", 1) for item in args.set)
        threads = waitress_options(load_config(None, environ={}, overrides=settings))["threads"]
        password = secrets.token_urlsafe(12)
        ports = {name: free_port() for name in ("ours", "nginx", "file", "hello")}
        server = start_server(dsn, state, ports["ours"], password, settings)
        processes.append(server)
        processes.append(references.start_nginx(os.path.join(state, "nginx"), files, ports["nginx"]))
        processes.append(references.start_flask("file", ports["file"], threads, files))
        processes.append(references.start_flask("hello", ports["hello"], threads))
        base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        for url in base.values():
            wait_until_up(url)
        machines = seed(base["ours"], password, files)
        lua = os.path.join(state, "check_in.lua")
        with open(lua, "w") as handle:
            handle.write(CHECK_IN_LUA)
        run = lambda url, script=None: wrk(url, args.seconds, args.connections, script,  # noqa: E731
                                           {"LP_MACHINES": machines, "LP_REPORT": REPORT})
        download = f"/v1/patches/{PATCH}"
        print(f"livepatch bench ({threads} waitress threads per server): running...", flush=True)
        nginx = run(base["nginx"] + "/" + PATCH)
        flask_file = run(base["file"] + download)
        ours_download = run(base["ours"] + download)
        hello = run(base["hello"] + "/v1/client/x/updates", lua)
        ours_check_in = run(base["ours"] + "/v1/client/x/updates", lua)
        rss = (process_memory(server.pid, "VmRSS"), process_memory(server.pid, "VmHWM"))
        rows = [("GET a 1 MiB patch (patch cache)", "Flask send_from_directory", flask_file, ours_download),
                ("GET a 1 MiB patch (patch cache)", "nginx sendfile", nginx, ours_download),
                ("check-in, one patch offered", "Flask view answering {\"patches\": []}", hello, ours_check_in)]
        result = table(rows, rss, args.seconds, args.connections)
        print(result)
        if args.output:
            with open(args.output, "w") as handle:
                handle.write("# Benchmark results (`make bench`)\n\n" + result + "\n")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        pg.stop()


if __name__ == "__main__":
    main()
