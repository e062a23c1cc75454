"""The console through haproxy, as operators reach it (docs/console.md, README): a
real haproxy in front of the fleet's server with the service the charm's website
relation asks for (lib/charms/livepatch/website.py: its options, health check and
server options), the browser at http://<haproxy address>/console/."""

import importlib.util
import pathlib
import re
import shutil
import subprocess

import pytest
import requests
from browserhelpers import (STALE_AFTER, css, forget_cookies, log_in, machine_ids, one, path_of, redirected_to_login,
                            skip_or_fail, submit)
from livetest import ADMIN_PASSWORD, ADMIN_USER, free_port, start_server, stop_process, wait_for

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
    `mode http` and `option forwardfor` are valid there too). Each request is logged
    (httplog: the server that answered, the status, the request line) to its stdout."""
    lines = ["global", "    maxconn 256", "    log stdout format raw local0", "",
             "defaults", "    log global", "    option httplog", "    mode http", "    timeout connect 5s",
             "    timeout client 30s", "    timeout server 30s", "",
             f"frontend {service['service_name']}-in", f"    bind {address}:{port}",
             f"    default_backend {service['service_name']}", "", f"backend {service['service_name']}"]
    lines += ["    " + option for option in service["service_options"]]
    for name, host, server_port, options in service["servers"]:
        lines.append(f"    server {name} {host}:{server_port} {options}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def second_unit(fleet_server, admin_users_entry, tmp_path_factory):
    """A second server on the fleet's database, as a second livepatch unit is."""
    server = start_server(fleet_server.config.database_url, admin_users_entry, tmp_path_factory.mktemp("unit1"),
                          console_stale_after=STALE_AFTER)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def haproxy(fleet_server, second_unit, tmp_path_factory):
    """(url, log path): haproxy with the charm's service, the two units as its servers
    (each unit publishes itself; haproxy merges the servers of a service name)."""
    binary = shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin:/usr/bin")
    if binary is None:
        skip_or_fail("haproxy is not installed (make system-deps)")
    website = charm_website()
    service, servers = None, []
    for unit, server in (("livepatch/0", fleet_server), ("livepatch/1", second_unit)):
        [service] = website.haproxy_services(unit, "127.0.0.1", server.config.port)
        servers += service["servers"]
    service["servers"] = servers
    assert service["service_port"] == 80 and "option forwardfor" in service["service_options"]
    folder = tmp_path_factory.mktemp("haproxy")
    port = free_port()
    log_path = folder / "haproxy.log"
    (folder / "haproxy.cfg").write_text(haproxy_config(service, "127.0.0.1", port))
    with open(log_path, "w") as out:
        process = subprocess.Popen([binary, "-db", "-f", str(folder / "haproxy.cfg")],
                                   stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def up():
        assert process.poll() is None, log_path.read_text()
        try:
            return requests.get(url + "/debug/status", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        wait_for(up, timeout=15, what="haproxy in front of the servers")
        yield url, log_path
    finally:
        stop_process(process)


def test_console_through_haproxy_on_either_unit(browser, haproxy, fleet):
    """The docs' way in, and their claim that the session works whichever unit haproxy
    picks (it lives in PostgreSQL): both units serve logged-in pages of one session."""
    url, log_path = haproxy
    # Cookies do not tell ports apart: forget the session of the direct tests first.
    forget_cookies(browser)
    browser.get(url + "/console/machines")
    redirected_to_login(browser, "/console/machines")
    log_in(browser, ADMIN_USER, ADMIN_PASSWORD)
    assert path_of(browser) == "/console/machines"
    assert sorted(machine_ids(browser)) == sorted(fleet.machines)
    # leastconn among idle servers takes them in turn, and a console page is two requests
    # (the page, its stylesheet): the index page in between (one request) moves the
    # next page to the other unit.
    for _ in range(2):
        browser.get(url + "/")
        browser.get(url + "/console/")
        assert [r.get_attribute("data-tier") for r in css(browser, "table#tiers tr[data-tier]")] == fleet.tiers
        browser.get(url + "/")
        browser.get(url + "/console/patches")
        assert [s.get_attribute("data-tier") for s in css(browser, "section[data-tier]")] == fleet.tiers
    submit(browser, one(browser, "form#logout"))
    assert path_of(browser) == "/console/login"

    def served():
        """haproxy server -> console pages it answered 200 (the pages need the session)."""
        pages = {}
        for match in re.finditer(r" livepatch/(\S+) \S+ 200 .*\"GET (/console/[^ ?]*)", log_path.read_text()):
            if match.group(2) in ("/console/", "/console/machines", "/console/patches"):
                pages.setdefault(match.group(1), set()).add(match.group(2))
        return pages if len(pages) == 2 else None

    try:
        wait_for(served, timeout=5, what="both units in haproxy's request log")
    except AssertionError:
        raise AssertionError("not both units answered console pages:\n" + log_path.read_text()) from None
