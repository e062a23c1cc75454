"""systemctl inside the units: real service processes from unit files, supervised."""

import json
import os
import urllib.request

import pytest

from simtesting import TEST_CHARMS, http_get, wait_for
from simlib.systemd import pid_alive

SIMTEST = os.path.join(TEST_CHARMS, "simtest")
PORT = 18741


def url(sim, host):
    return "http://%s:%d/" % (sim.address(host), PORT)


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read().decode()


def try_get(url):
    try:
        return get(url, timeout=2)
    except OSError:
        return ""


def service_state(sim, unit):
    path = os.path.join(sim.path, "units", unit.replace("/", "-"), "systemd", "run",
                        "simtest.service.json")
    with open(path) as f:
        return json.load(f)



@pytest.fixture(scope="module")
def sim(new_model):
    sim = new_model()
    sim.run("deploy", SIMTEST, "svc", "-n", "2", "--config", "service_port=%d" % PORT)
    sim.wait()
    return sim


def test_service_runs_as_its_user_on_each_unit(sim):
    # the same port on two units: each unit has its own address
    assert http_get(url(sim, 1)).startswith("simtest svc/0 hello world")
    assert http_get(url(sim, 2)).startswith("simtest svc/1 hello world")
    with open(sim.unit_root("svc/0", "/run/simtest/info.json")) as f:
        info = json.load(f)
    assert info["uid"] == 65534 and info["cwd"] == "/run/simtest"      # User=nobody
    assert info["env"]["SIMTEST_GREETING"] == "hello world"             # Environment=
    assert info["env"]["SIMTEST_FROM_FILE"] == "from file"              # EnvironmentFile=
    assert info["env"]["HOME"] == "/nonexistent" and info["env"]["USER"] == "nobody"
    assert "JUJU_CONTEXT_ID" not in info["env"]                         # not the hook's env
    start = [e for e in sim.events("svc/0") if e["what"] == "hooks/start"][-1]
    assert start["is_active"] == "active"
    assert sim.unit("svc/0")["open-ports"] == ["%d/tcp" % PORT]
    assert os.path.islink(sim.unit_root(
        "svc/0", "/etc/systemd/system/multi-user.target.wants/simtest.service"))


def test_ambient_capabilities_let_the_user_bind_a_low_port(tmp_path):
    """AmbientCapabilities=CAP_NET_BIND_SERVICE with User=nobody: the process is nobody and
    can listen below 1024 (the livepatch charm's unit for port 80); without it, it cannot."""
    from simlib.systemd import popen_command

    script = ("import os, socket; s = socket.socket(); "
              "s.bind(('127.0.0.1', int(os.environ['LOW_PORT']))); print('bound', os.getuid())")
    low = next(p for p in range(900, 1000) if _free("127.0.0.1", p))
    env = {"PATH": "/usr/bin:/bin", "LOW_PORT": str(low)}
    results = []
    for cfg in ({"User": "nobody", "AmbientCapabilities": "CAP_NET_BIND_SERVICE"}, {"User": "nobody"}):
        log = open(tmp_path / "out.log", "w+")
        proc, _ = popen_command("/usr/bin/python3 -c \"%s\"" % script, "t.service", dict(cfg), env, log)
        proc.wait(timeout=30)
        log.seek(0)
        results.append((proc.returncode, log.read()))
    assert results[0] == (0, "bound 65534\n"), results[0]
    assert results[1][0] != 0 and "Permission denied" in results[1][1]


def _free(host, port):
    import socket

    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def test_systemctl_verbs(sim):
    script = """
systemctl is-active simtest; echo "rc=$?"
systemctl is-enabled simtest; echo "rc=$?"
systemctl stop simtest; echo "rc=$?"
systemctl is-active simtest; echo "rc=$?"
systemctl is-active --quiet simtest; echo "rc=$?"
service simtest start; echo "rc=$?"
systemctl is-active simtest.service; echo "rc=$?"
systemctl reload simtest; echo "rc=$?"
systemctl mask simtest; echo "rc=$?"
systemctl is-active nosuch; echo "rc=$?"
systemctl start nosuch; echo "rc=$?"
systemctl show -p ActiveState --value simtest
systemctl status simtest >/dev/null; echo "rc=$?"
/bin/systemctl is-active simtest
"""
    proc = sim.exec("svc/1", script)
    assert proc.stdout.split() == [
        "active", "rc=0", "enabled", "rc=0", "rc=0", "inactive", "rc=3", "rc=3", "rc=0",
        "active", "rc=0", "rc=1", "rc=1", "inactive", "rc=3", "rc=5", "active", "rc=0", "active"]
    assert "reload is not applicable" in proc.stderr
    assert "already exists" in proc.stderr                     # can't mask a file in /etc
    assert "Unit nosuch.service not found" in proc.stderr


def test_restart_on_failure_and_restart(sim):
    before = service_state(sim, "svc/0")
    assert before["state"] == "active"
    os.kill(before["main"], 9)                                # crash it
    after = wait_for(lambda: (lambda s: s if s["state"] == "active" and s["main"] != before["main"]
                              else None)(service_state(sim, "svc/0")))
    assert after["restarts"] == before.get("restarts", 0) + 1
    assert wait_for(lambda: try_get(url(sim, 1)).endswith(
        "pid=%d\n" % after["main"]))
    journal = sim.run("journal", "svc/0", "simtest").stdout
    assert "code=killed, status=9/SIGKILL" in journal and "Scheduled restart" in journal
    sim.exec("svc/0", "systemctl restart simtest")
    again = service_state(sim, "svc/0")
    assert again["main"] != after["main"] and not pid_alive(after["main"])


def test_unit_file_changes_need_daemon_reload(sim):
    path = sim.unit_root("svc/1", "/etc/systemd/system/simtest.service")
    text = open(path).read()
    with open(path, "w") as f:
        f.write(text.replace("SIMTEST_GREETING=hello world", "SIMTEST_GREETING=bonjour"))
    proc = sim.exec("svc/1", "systemctl restart simtest")
    assert "Run 'systemctl daemon-reload'" in proc.stderr
    # the restart runs the loaded definition; wait until it listens again
    assert "hello world" in wait_for(lambda: try_get(url(sim, 2)))
    sim.exec("svc/1", "systemctl daemon-reload && systemctl restart simtest")
    assert "bonjour" in wait_for(lambda: try_get(url(sim, 2)))


def test_destroy_leaves_no_process(new_model):
    sim = new_model()
    sim.run("deploy", SIMTEST, "gone", "--config", "service_port=%d" % PORT)
    sim.wait()
    state = service_state(sim, "gone/0")
    pids = [state["supervisor"], state["main"]]
    assert all(pid_alive(p) for p in pids)
    st = sim.state()
    cgroup = st["cgroup"]
    proc = sim.destroy()
    assert proc.returncode == 0, proc.stderr
    assert not any(pid_alive(p) for p in pids)
    if cgroup:
        assert not os.path.exists(cgroup)
    # nothing of the model runs any more: no process has it on its command line
    mine = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and pid_alive(int(entry)):
            try:
                cmd = open("/proc/%s/cmdline" % entry, "rb").read().decode(errors="replace")
            except OSError:
                continue
            if sim.path in cmd:
                mine.append((entry, cmd))
    assert mine == []
    assert sim.status()["model"]["model-status"]["current"] == "destroyed"
