"""Bench section "serving": downloads and check-ins on a small database, each
against its reference started in the same run (bench/references.py):

  download  a 1 MiB patch: nginx sendfile | Flask send_from_directory | ours (after its
            first download, so from the per-unit patch cache)
  check-in  POST /v1/client/{id}/updates: a Flask view answering {"patches": []} | ours
            (each request a different machine, one patch offered, the report committed)
"""

import os
import uuid

import requests

import references
from harness import Row
from livetest import free_port, wait_until_up

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


def enrol(url, admin, machines, folder, tier="edge"):
    """`machines` enabled machines on a new auth token; -> the path of the list
    ("id token" lines) that CHECK_IN_LUA reads."""
    token = requests.post(f"{url}/v1/admin/auth-token", json={"id": f"bench-{uuid.uuid4().hex[:6]}", "tier": tier},
                          auth=admin, timeout=10).json()["token"]
    lines, session = [], requests.Session()
    for _ in range(machines):
        machine_id = uuid.uuid4().hex
        answer = session.put(f"{url}/v1/client/{machine_id}", headers={"Authorization": f"Bearer {token}"},
                             timeout=10)
        answer.raise_for_status()
        lines.append(f"{machine_id} {answer.json()['machine-token']}")
    path = os.path.join(folder, f"machines-{uuid.uuid4().hex[:6]}.txt")
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def upload_patch(url, admin, folder):
    """The bench's 1 MiB patch, uploaded and also written to `folder` (for the references)."""
    data = os.urandom(PATCH_BYTES)
    with open(os.path.join(folder, PATCH), "wb") as handle:
        handle.write(data)
    requests.put(f"{url}/v1/admin/patches/{PATCH}", data=data, auth=admin, timeout=60).raise_for_status()


def check_in_script(folder):
    path = os.path.join(folder, "check_in.lua")
    with open(path, "w") as handle:
        handle.write(CHECK_IN_LUA)
    return path


def check_in_run(url, machines, script):
    """Check-ins against `url` as harness.Bench.alternated takes a run: (url, script, env)."""
    return url + "/v1/client/x/updates", script, {"LP_MACHINES": machines, "LP_REPORT": REPORT}


def run(bench):
    files = os.path.join(bench.state, "files")
    os.makedirs(files, exist_ok=True)
    ports = {name: free_port() for name in ("nginx", "file", "hello", "select", "statement", "wsgi-statement")}
    bench.start(references.start_nginx(os.path.join(bench.state, "nginx"), files, ports["nginx"]))
    bench.start(references.start_flask("file", ports["file"], bench.threads, files))
    bench.start(references.start_flask("hello", ports["hello"], bench.threads))
    ref = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    dsn = bench.new_database()
    server = bench.start_server(dsn)
    for kind in ("select", "statement", "wsgi-statement"):
        bench.start(references.start_flask(kind, ports[kind], bench.threads, dsn))
    for url in ref.values():
        wait_until_up(url)
    upload_patch(server.url, server.admin, files)
    machines = enrol(server.url, server.admin, MACHINES, bench.state)
    first = open(machines).readline().split()
    offer = requests.post(f"{server.url}/v1/client/{first[0]}/updates", data=REPORT, timeout=10,
                          headers={"Authorization": f"Bearer {first[1]}", "Content-Type": "application/json"})
    assert offer.status_code == 200 and offer.json()["patches"], offer.text
    download = f"/v1/patches/{PATCH}"
    requests.get(server.url + download, timeout=10).raise_for_status()  # fills the patch cache
    script = check_in_script(bench.state)

    downloads = bench.alternated({"nginx": (ref["nginx"] + "/" + PATCH, None, None),
                                  "file": (ref["file"] + download, None, None),
                                  "ours": (server.url + download, None, None)})
    nginx, flask_file, ours_download = downloads["nginx"], downloads["file"], downloads["ours"]
    download_rss = server.rss_mb()
    check_ins = bench.alternated({name: check_in_run(url, machines, script) for name, url in
                                  (("hello", ref["hello"]), ("select", ref["select"]), ("statement", ref["statement"]),
                                   ("wsgi-statement", ref["wsgi-statement"]), ("ours", server.url))})
    hello, select, statement = check_ins["hello"], check_ins["select"], check_ins["statement"]
    wsgi_statement, ours_check_in = check_ins["wsgi-statement"], check_ins["ours"]
    check_in_rss = server.rss_mb()
    work = "GET a 1 MiB patch (patch cache)"

    def throughput(work, reference, ref, ours, target, rss, p99_target_ms=None):
        return Row(work, reference, f"{ref['rps']:,.0f} req/s", f"{ours['rps']:,.0f} req/s", ours["rps"] / ref["rps"],
                   target, ours["p99_ms"], p99_target_ms, rss, ours["errors"])

    return [throughput(work, "Flask send_from_directory", flask_file, ours_download, 0.95, download_rss),
            throughput(work, "nginx sendfile", nginx, ours_download, None, download_rss),
            throughput("check-in, one patch offered", 'Flask view answering {"patches": []}', hello, ours_check_in,
                       0.5, check_in_rss, p99_target_ms=50),
            # Where a check-in's time goes: the floor with a database round trip, then
            # with our statement; against the hello view, as ours is.
            throughput("(floor) Flask view + SELECT 1 on a pooled connection", 'Flask view answering {"patches": []}',
                       hello, select, None, None),
            throughput("(floor) Flask view + our check-in statement", 'Flask view answering {"patches": []}',
                       hello, statement, None, None),
            # The same without Flask: what the check-in lane (api/check_in_lane.py) can reach.
            throughput("(floor) bare WSGI view + our check-in statement", 'Flask view answering {"patches": []}',
                       hello, wsgi_statement, None, None)]
