"""Helpers for the browser tests (tests/browser) and scripts/console-screenshot.py:
a headless Chromium under Selenium that never touches the network, and a seeded
fleet (tiers, patches of every source, machines in several patch states, a stale
machine, sync runs) on a live server. A module of its own, not conftest, so that the
screenshot script can import it too.

The fleet is seeded through the real HTTP API (admin API, client enables and
check-ins with the machine tokens, a real sync from a second server, the import
folder); SQL only backdates a check-in, which no API can do."""

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pytest

# Selenium Manager (the driver/browser downloader bundled with Selenium) must never
# reach the network: the driver path is given to Service() below, which skips Selenium
# Manager altogether (selenium/webdriver/common/driver_finder.py: "Skipping Selenium
# Manager; path to ... driver specified in Service class"), and should anything still
# start it, SE_OFFLINE=true is its documented offline mode ("Offline mode (i.e.,
# disabling network requests and downloads)", https://www.selenium.dev/documentation/selenium_manager/#configuration;
# each configuration key has an SE_<KEY> environment variable). SE_AVOID_STATS=true
# (same page, "Data collection") stops its usage statistics to plausible.io.
os.environ.setdefault("SE_OFFLINE", "true")
os.environ.setdefault("SE_AVOID_STATS", "true")

from selenium import webdriver  # noqa: E402 (after the environment above)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

WINDOW = (1280, 900)
HTML_LIKE = '<script>document.title="pwned"</script><img src=x onerror="document.title=\'pwned\'">'


def skip_or_fail(reason):
    """A missing prerequisite skips a developer's ad-hoc run, but fails `make test`
    and CI (which set LIVEPATCH_REQUIRE_ALL_TESTS): there, a skip would hide a gap
    (the rule of tests/server/test_monitoring_files.py and tests/jujusim)."""
    if os.environ.get("LIVEPATCH_REQUIRE_ALL_TESTS") or os.environ.get("CI"):
        pytest.fail("cannot run: " + reason, pytrace=False)
    pytest.skip(reason)


def browser_paths():
    """(chromium, chromedriver) from PATH, or None where one is missing (Debian's
    chromium and chromium-driver packages: `make system-deps`)."""
    return shutil.which("chromium"), shutil.which("chromedriver")


class Browser(webdriver.Chrome):
    """Chromium under chromedriver with a scratch folder of its own as HOME, XDG
    config and cache, TMPDIR and profile, removed on quit(): Chromium otherwise leaves
    ~/.config/chromium (crash reports), ~/.cache/dconf and its singleton-socket folders
    in /tmp behind, and `make test` leaves the machine as it found it (README)."""

    def __init__(self, scratch, **kwargs):
        self.scratch = scratch
        super().__init__(**kwargs)

    def quit(self):
        try:
            super().quit()
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)


def new_driver(width=WINDOW[0], height=WINDOW[1]):
    """A headless Chromium driven through Debian's chromedriver (quit() it)."""
    chromium, chromedriver = browser_paths()
    if not (chromium and chromedriver):
        raise RuntimeError("chromium and chromedriver are needed (make system-deps)")
    scratch = tempfile.mkdtemp(prefix="lp-chromium-")
    env = dict(os.environ, HOME=scratch, TMPDIR=scratch, XDG_CONFIG_HOME=os.path.join(scratch, ".config"),
               XDG_CACHE_HOME=os.path.join(scratch, ".cache"))
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    # --headless=new: Chrome's current headless mode, the full browser that "creates, but
    # doesn't display, any platform windows" (https://developer.chrome.com/docs/chromium/headless;
    # plain --headless means the same since Chromium's "[headless] Change --headless switch
    # default to 'new'", and the old mode left the chrome binary in 132; Selenium's advice:
    # https://www.selenium.dev/blog/2023/headless-is-going-away/).
    options.add_argument("--headless=new")
    # We run as root, where Chromium refuses to start with its setuid/namespace sandbox;
    # --no-sandbox turns it off ("Disables the sandbox for all process types that are
    # normally sandboxed", https://peter.sh/experiments/chromium-command-line-switches/#no-sandbox).
    options.add_argument("--no-sandbox")
    # Shared memory in /tmp rather than /dev/shm, which is small in containers and
    # VMs (Debian's own /etc/chromium.d/dev-shm adds it below 3.8 GB free, after
    # https://bugs.debian.org/1072299).
    options.add_argument("--disable-dev-shm-usage")
    options.add_argument(f"--window-size={width},{height}")
    options.add_argument("--user-data-dir=" + os.path.join(scratch, "profile"))
    # Same pixels on every machine (the docs' screenshot): device scale 1, sRGB.
    options.add_argument("--force-device-scale-factor=1")
    options.add_argument("--force-color-profile=srgb")
    options.add_argument("--hide-scrollbars")
    # What the page's console says (CSP violations, failed loads) for browser_errors():
    # chromedriver's goog:loggingPrefs capability, read with driver.get_log("browser").
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The driver's environment is the browser's too (chromedriver starts Chromium).
    service = Service(executable_path=chromedriver, env=env)
    try:
        driver = Browser(scratch, service=service, options=options)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    driver.set_page_load_timeout(30)
    return driver


def wait(driver, predicate, timeout=10, what="the page"):
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        lambda d: predicate(d), message=f"{what} within {timeout} s")


def path_of(driver):
    """The current URL's path and query, without scheme and host."""
    return re.sub(r"^[a-z]+://[^/]+", "", driver.current_url)


def click_through(driver, element):
    """Clicks a link or button and waits for the page it leads to."""
    old = driver.find_element(By.TAG_NAME, "html")
    element.click()
    wait(driver, lambda d: _stale(old), what="the next page after a click")


def submit(driver, form):
    """Submits a form with its submit button and waits for the next page."""
    click_through(driver, form.find_element(By.CSS_SELECTOR, '[type="submit"]'))


def _stale(element):
    try:
        element.tag_name
        return False
    except Exception:  # StaleElementReferenceException: the old document is gone
        return True


def css(driver, selector):
    return driver.find_elements(By.CSS_SELECTOR, selector)


def one(driver, selector):
    found = css(driver, selector)
    assert len(found) == 1, f"{len(found)} elements match {selector!r} on {path_of(driver)}"
    return found[0]


def redirected_to_login(driver, wanted):
    """The browser sits on the console's login form, which will send it back to `wanted`."""
    url = urlsplit(driver.current_url)
    assert url.path == "/console/login", driver.current_url
    assert parse_qs(url.query).get("next") == [wanted], driver.current_url
    one(driver, "form#login")
    assert one(driver, 'form#login input[name="next"]').get_attribute("value") == wanted


def listed(driver):
    """The machine ids of the machines page shown."""
    return [row.get_attribute("data-machine-id") for row in css(driver, "table#machines tbody tr[data-machine-id]")]


def machine_ids(driver):
    """The machine ids of the machines listing, following its next-page links."""
    ids = []
    for _ in range(50):
        ids += listed(driver)
        following = css(driver, 'a[rel="next"]')
        if not following:
            return ids
        driver.get(following[0].get_attribute("href"))
    raise AssertionError("more than 50 pages")


def browser_errors(driver):
    """The browser console's errors since the last call (a CSP violation, a resource that
    failed to load), but for the favicon, which the console does not serve."""
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]]


def forget_cookies(driver):
    """Drops every cookie of the browser (WebDriver's Delete All Cookies only reaches the
    current document's: not a Path=/console/ cookie from another page, nor one set on
    another port, which cookies do not tell apart). DevTools protocol
    Network.clearBrowserCookies:
    https://chromedevtools.github.io/devtools-protocol/tot/Network/#method-clearBrowserCookies."""
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})


def log_in(driver, username, password):
    """Fills and submits the console's login form (form#login)."""
    form = driver.find_element(By.CSS_SELECTOR, "form#login")
    form.find_element(By.NAME, "username").clear()
    form.find_element(By.NAME, "username").send_keys(username)
    form.find_element(By.NAME, "password").send_keys(password)
    submit(driver, form)


def emulate_media(driver, color_scheme=""):
    """prefers-color-scheme for the current tab ('' restores the default) through the
    DevTools protocol's Emulation.setEmulatedMedia
    (https://chromedevtools.github.io/devtools-protocol/tot/Emulation/#method-setEmulatedMedia),
    sent with Selenium's Chromium execute_cdp_cmd."""
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                           {"features": [{"name": "prefers-color-scheme", "value": color_scheme}]})


def page_background(driver):
    """The background colour the page shows: the body's, else the root element's."""
    return driver.execute_script("""
        for (const el of [document.body, document.documentElement]) {
            const c = getComputedStyle(el).backgroundColor;
            if (c && c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') return c;
        }
        return 'rgba(0, 0, 0, 0)';""")


# --- the seeded fleet -----------------------------------------------------------

PATCH = "livepatch-{kernel}-{flavour}-{version}-{arch}.tar.bz2"
STALE_DAYS = 40      # past any sensible console_stale_after
STALE_AFTER = "7d"   # console_stale_after for the test server, should it be a duration


def patch_name(kernel, version, flavour="generic", arch="amd64"):
    return PATCH.format(kernel=kernel, flavour=flavour, version=version, arch=arch)


@dataclass
class Fleet:
    """What was seeded, for the tests to compare the console against."""
    tiers: list = field(default_factory=list)              # in tier order
    machines: dict = field(default_factory=dict)           # machine id -> dict(tier, state, kernel, stale)
    patches: dict = field(default_factory=dict)            # filename -> dict(tiers, source, blocked)
    sync_runs: list = field(default_factory=list)          # as the admin API answered them

    def in_tier(self, tier):
        return {mid: m for mid, m in self.machines.items() if m["tier"] == tier}

    def state_counts(self, tier):
        counts = {}
        for m in self.in_tier(tier).values():
            counts[m["state"] or "none"] = counts.get(m["state"] or "none", 0) + 1
        return counts

    @property
    def stale(self):
        return {mid for mid, m in self.machines.items() if m["stale"]}

    @property
    def kernels(self):
        return {m["kernel"] for m in self.machines.values() if m["kernel"]}


# (machine id, tier, kernel, patch state, extra check-in fields); state None: enabled,
# never checked in. The lab machine reports an HTML-looking cpu-model (free text up
# to 256 characters), which the console must show as text.
MACHINES = [
    ("edge-01", "edge", "5.15.0-107.117-generic", "applied", {}),
    ("edge-02", "edge", "5.15.0-107.117-generic", "apply-failed", {}),
    ("edge-03", "edge", "6.8.0-45.45-generic", "nothing-to-apply", {}),
    ("beta-01", "beta", "5.15.0-107.117-generic", "applied", {}),
    ("beta-02", "beta", "5.4.0-150.167-generic", "kernel-upgrade-required", {}),
    ("stable-01", "stable", "5.15.0-105.115-generic", "applied", {}),
    ("stable-02", "stable", "5.15.0-105.115-generic", "applied", {}),
    ("stable-03", "stable", "5.15.0-105.115-generic", "needs-check", {}),
    ("stable-04", "stable", None, None, {}),
    ("stable-old", "stable", "5.15.0-105.115-generic", "applied", {}),   # backdated: stale
    ("lab-01", "lab", "6.8.0-45.45-generic", "unknown", {"cpu-model": HTML_LIKE}),
]
STALE = {"stable-old"}
# And a crowd, so that the machines page has a second page (50 a page) and the bars
# have some body: ids as /etc/machine-id has them, states and kernels the named
# machines' filters do not expect (no apply-failed, no 5.4 kernel, nothing in
# candidate, none stale).
CROWD = [(hashlib.md5(f"crowd-{i}".encode()).hexdigest(), ("edge", "beta", "stable")[i % 3],
          ("5.15.0-107.117-generic", "5.15.0-105.115-generic", "6.8.0-45.45-generic")[i // 2 % 3],
          ("applied", "applied", "nothing-to-apply", "applied", "applied", "unapplied", "applied",
           "check-failed")[i // 3 % 8], {})
         for i in range(48)]


def _ok(response, *statuses):
    assert response.status_code in (statuses or (200,)), f"{response.request.method} {response.url}: " \
        f"{response.status_code} {response.text}"
    return response.json() if response.content else None


def upload(server, filename, tier=None):
    data = os.urandom(2000 + len(filename))
    _ok(server.admin("PUT", f"/v1/admin/patches/{filename}", data=data), 201)
    if tier:
        version = re.search(r"-(\d+\.\d+)-[a-z0-9]+\.tar\.bz2$", filename).group(1)
        _ok(server.admin("POST", f"/v1/admin/patches/{version}/promote", json={"tier": tier}))
    return data


def seed_fleet(server, upstream):
    """Seeds `server` (and `upstream`, the server it syncs from: sync_upstream and
    sync_token must point there, see fleet_sync_config) -> Fleet."""
    fleet = Fleet()
    # A tier of our own after the four of a fresh database.
    _ok(server.admin("POST", "/v1/admin/tiers", json={"name": "lab"}), 201)
    fleet.tiers = [t["name"] for t in _ok(server.admin("GET", "/v1/admin/tiers"))["tiers"]]

    # Uploaded patches (they land in the first tier; promote moves them on).
    uploads = {
        patch_name("5.15.0-105.115", "105.2"): "stable",
        patch_name("5.15.0-107.117", "107.1"): "beta",
        patch_name("5.15.0-107.117", "107.2"): None,
        patch_name("6.8.0-45.45", "45.1", arch="arm64"): None,
    }
    for filename, tier in uploads.items():
        upload(server, filename, tier)
    # One blocked, with an HTML-looking reason.
    blocked = patch_name("5.15.0-107.117", "107.2")
    _ok(server.admin("POST", f"/v1/admin/patches/{blocked}/block", json={"reason": HTML_LIKE}))
    # One through the import folder (source "import").
    imported = patch_name("5.4.0-150.167", "150.1")
    import_dir = server.config.import_path or os.path.join(server.config.filestore_path, "import")
    os.makedirs(import_dir, exist_ok=True)
    with open(os.path.join(import_dir, imported), "wb") as handle:
        handle.write(os.urandom(2500))
    refreshed = _ok(server.admin("POST", "/v1/admin/storage/refresh"))
    assert refreshed["imported"] == [imported], refreshed
    # One from the upstream by a real sync run (source "sync"), then a failed run:
    # the upstream no longer takes the token.
    synced = patch_name("5.15.0-105.115", "105.3")
    upload(upstream, synced, tier="stable")
    fleet.sync_runs.append(_ok(server.admin("POST", "/v1/admin/sync/trigger", json={"wait": True})))
    assert fleet.sync_runs[-1]["result"] == "success" and fleet.sync_runs[-1]["patches-added"] == 1, fleet.sync_runs
    _ok(upstream.admin("DELETE", f"/v1/admin/sync-tokens/{SYNC_TOKEN_NAME}"))
    fleet.sync_runs.append(_ok(server.admin("POST", "/v1/admin/sync/trigger", json={"wait": True})))
    assert fleet.sync_runs[-1]["result"] == "failed", fleet.sync_runs

    for patch in _ok(server.admin("GET", "/v1/admin/patches", params={"limit": 1000}))["patches"]:
        fleet.patches[patch["filename"]] = {"tiers": patch["tiers"], "source": patch["source"],
                                            "blocked": patch["blocked"]}
    assert set(fleet.patches) == set(uploads) | {imported, synced}, fleet.patches
    assert fleet.patches[blocked]["blocked"] and fleet.patches[synced]["source"] == "sync"

    # Machines: one auth token per tier, enable, check in with the machine token.
    tokens = {}
    for tier in sorted({m[1] for m in MACHINES}):
        made = server.admin("POST", "/v1/admin/auth-token", json={"id": f"fleet-{tier}", "tier": tier})
        tokens[tier] = _ok(made)["token"]
    for machine_id, tier, kernel, state, extra in MACHINES + CROWD:
        enabled = _ok(server.request("PUT", f"/v1/client/{machine_id}",
                                     headers={"Authorization": f"Bearer {tokens[tier]}"}))
        if state is not None:
            body = {"kernel": kernel, "architecture": "x86_64", "patch-state": state,
                    "client-version": "10.8.3", "uptime": 3600, **extra}
            _ok(server.request("POST", f"/v1/client/{machine_id}/updates", json=body,
                               headers={"Authorization": f"Bearer {enabled['machine-token']}"}))
        fleet.machines[machine_id] = {"tier": tier, "kernel": kernel, "state": state, "stale": machine_id in STALE}
    # No API sets a check-in time: backdate the stale machine's (and its report's).
    for machine_id in STALE:
        assert server.sql("UPDATE machines SET last_check_in = now() - make_interval(days => %s)"
                          " WHERE machine_id = %s", (STALE_DAYS, machine_id)) == 1
        server.sql("UPDATE machine_reports SET reported_at = now() - make_interval(days => %s)"
                   " WHERE machine_id = %s", (STALE_DAYS, machine_id))
    listed = _ok(server.admin("GET", "/v1/admin/machines", params={"limit": 1000}))["machines"]
    assert {m["machine-id"]: m["patch-state"] for m in listed} == \
        {mid: m["state"] for mid, m in fleet.machines.items()}
    return fleet


SYNC_TOKEN_NAME = "console-fleet"


def fleet_sync_config(upstream):
    """Server overrides for a fleet server that syncs from `upstream` (a live server)."""
    r = upstream.admin("POST", "/v1/admin/sync-tokens", json={"name": SYNC_TOKEN_NAME, "tier": "stable"})
    token = _ok(r)["token"]
    # LiveServer starts no background jobs (serve.py does): the runs are the triggered ones.
    return {"patch_sync_enabled": True, "sync_upstream": upstream.url, "sync_token": token}

