"""The console through haproxy, as operators reach it (docs/console.md, README): a
real haproxy in front of the fleet's server with the service the charm's website
relation asks for (lib/charms/livepatch/website.py: its options, health check and
server options), the browser at http://<haproxy address>/console/."""

import importlib.util
import pathlib
import shutil
import subprocess

import pytest
import requests
from browserhelpers import (css, forget_cookies, log_in, machine_ids, one, path_of, redirected_to_login, skip_or_fail,
                            submit)
from livetest import ADMIN_PASSWORD, ADMIN_USER, free_port, wait_for

ROOT = pathlib.Path(__file__).resolve().parents[2]


def charm_website():
    """lib/charms/livepatch/website.py, loaded by path (pure: no charmhelpers)."""
    spec = importlib.util.spec_from_file_location("livepatch_charm_website",
                                                  ROOT / "lib" / "charms" / "livepatch" / "website.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def haproxy_config(service, address, port):
    """A haproxy.cfg with the one service, bound to address:port instead of its
    0.0.0.0:80; every service option in the backend (all are backend keywords, and
    `mode http` and `option forwardfor` are valid there too)."""
    lines = ["global", "    maxconn 256", "", "defaults", "    mode http", "    timeout connect 5s",
             "    timeout client 30s", "    timeout server 30s", "",
             f"frontend {service['service_name']}-in", f"    bind {address}:{port}",
             f"    default_backend {service['service_name']}", "", f"backend {service['service_name']}"]
    lines += ["    " + option for option in service["service_options"]]
    for name, host, server_port, options in service["servers"]:
        lines.append(f"    server {name} {host}:{server_port} {options}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def haproxy_url(fleet_server, tmp_path_factory):
    binary = shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin:/usr/bin")
    if binary is None:
        skip_or_fail("haproxy is not installed (make system-deps)")
    website = charm_website()
    [service] = website.haproxy_services("livepatch/0", "127.0.0.1", fleet_server.config.port)
    assert service["service_port"] == 80 and "option forwardfor" in service["service_options"]
    folder = tmp_path_factory.mktemp("haproxy")
    port = free_port()
    (folder / "haproxy.cfg").write_text(haproxy_config(service, "127.0.0.1", port))
    with open(folder / "haproxy.log", "w") as log:
        process = subprocess.Popen([binary, "-db", "-f", str(folder / "haproxy.cfg")],
                                   stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def up():
        assert process.poll() is None, (folder / "haproxy.log").read_text()
        try:
            return requests.get(url + "/debug/status", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        wait_for(up, timeout=15, what="haproxy in front of the server")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_console_through_haproxy(browser, haproxy_url, fleet):
    # Cookies do not tell ports apart: forget the session of the direct tests first.
    forget_cookies(browser)
    browser.get(haproxy_url + "/console/machines")
    redirected_to_login(browser, "/console/machines")
    log_in(browser, ADMIN_USER, ADMIN_PASSWORD)
    assert path_of(browser) == "/console/machines"
    assert sorted(machine_ids(browser)) == sorted(fleet.machines)
    browser.get(haproxy_url + "/console/")
    assert [r.get_attribute("data-tier") for r in css(browser, "table#tiers tr[data-tier]")] == fleet.tiers
    submit(browser, one(browser, "form#logout"))
    assert path_of(browser) == "/console/login"
