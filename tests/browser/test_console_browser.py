"""The web console (/console/) in a real browser, against the page contract of
/work/notes/console-contract.md: log in through the form, the overview's tier rows
against the seeded fleet, the machines filters, the patches page, logging out; the
overview at a phone's width and in dark mode. One headless Chromium and one seeded
server for the whole module (conftest.py); every test starts from a page it loads."""

from urllib.parse import parse_qs, urlsplit

import pytest
from browserhelpers import (HTML_LIKE, WINDOW, browser_errors, click_through, css, emulate_media, forget_cookies,
                            listed, log_in, machine_ids, one, page_background, path_of, redirected_to_login, submit,
                            wait)
from livetest import ADMIN_PASSWORD, ADMIN_USER
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select


def no_markup_ran(driver):
    """The seed's HTML-looking texts (a machine's cpu-model, a block reason) stayed text."""
    assert driver.title != "pwned"
    assert not css(driver, 'img[src="x"]')


@pytest.fixture
def console(browser, fleet_server):
    """The browser logged in (again, when an earlier test logged out), on the overview."""
    browser.get(fleet_server.url + "/console/")
    if urlsplit(browser.current_url).path == "/console/login":
        log_in(browser, ADMIN_USER, ADMIN_PASSWORD)
    assert path_of(browser) == "/console/", browser.current_url
    return browser


def test_login_form_refuses_a_wrong_password_then_logs_in(browser, fleet_server):
    forget_cookies(browser)
    browser.get(fleet_server.url + "/console/")
    redirected_to_login(browser, "/console/")
    assert one(browser, 'form#login input[name="password"]').get_attribute("type") == "password"

    log_in(browser, ADMIN_USER, "not-the-password")
    assert urlsplit(browser.current_url).path == "/console/login"
    assert one(browser, 'p.error[role="alert"]').text.strip()
    assert not css(browser, "table#tiers")

    log_in(browser, ADMIN_USER, ADMIN_PASSWORD)
    assert path_of(browser) == "/console/"
    one(browser, "table#tiers")
    links = {urlsplit(a.get_attribute("href")).path for a in css(browser, "nav a")}
    assert {"/console/", "/console/machines", "/console/patches"} <= links
    one(browser, 'form#logout [type="submit"]')


def test_overview_shows_the_seeded_tiers_kernels_and_sync_runs(console, fleet):
    rows = css(console, "table#tiers tr[data-tier]")
    assert [row.get_attribute("data-tier") for row in rows] == fleet.tiers
    for row in rows:
        tier = row.get_attribute("data-tier")
        assert int(row.find_element(By.CSS_SELECTOR, 'td[data-col="machines"]').text.strip()) == \
            len(fleet.in_tier(tier)), tier
        shown = {span.get_attribute("data-state"): int(span.text.strip())
                 for span in row.find_elements(By.CSS_SELECTOR, "span[data-state]")}
        shown = {state: count for state, count in shown.items() if count}
        expected = fleet.state_counts(tier)
        # Never reported: the contract allows "unknown" or "none" for it.
        if "none" in expected and "none" not in shown:
            expected["unknown"] = expected.get("unknown", 0) + expected.pop("none")
        assert shown == expected, tier
        for stale in row.find_elements(By.CSS_SELECTOR, 'td[data-col="stale"]'):  # beyond the contract
            assert int(stale.text.strip()) == len(fleet.stale & set(fleet.in_tier(tier))), tier
    newest = {row.get_attribute("data-tier"): row.find_element(By.CSS_SELECTOR, 'td[data-col="newest"]').text
              for row in rows}
    assert "105.2" in newest["stable"], newest   # the only patch visible in stable
    assert not any(ch.isdigit() for ch in newest["lab"]), newest   # nothing visible in lab

    assert int(one(console, "span#stale-count").text.strip()) == len(fleet.stale)
    kernels = {row.get_attribute("data-kernel") for row in css(console, "table#kernels tr[data-kernel]")}
    assert kernels == fleet.kernels
    assert len(css(console, "table#sync-runs tr[data-sync-run]")) == len(fleet.sync_runs)
    one(console, "section#health")
    no_markup_ran(console)


def test_overview_links_lead_to_the_machines_they_count(console, fleet):
    """Beyond the contract: the tiers table's stale count and state counts link to the
    machines page filtered to exactly those machines."""
    stale = css(console, 'tr[data-tier="stable"] td[data-col="stale"] a')
    if stale:
        click_through(console, stale[0])
        assert machine_ids(console) == sorted(fleet.stale)
        console.back()
    failed = css(console, 'tr[data-tier="edge"] a:has(span[data-state="apply-failed"])')
    if failed:
        click_through(console, failed[0])
        assert machine_ids(console) == ["edge-02"]
    assert stale or failed, "no count of the tiers table links to its machines"


def filter_machines(driver, url, tier=None, state=None, stale=False, kernel=None):
    """Fills form#machine-filters on a fresh listing, submits it -> the ids listed."""
    driver.get(url + "/console/machines")
    form = one(driver, "form#machine-filters")
    if tier is not None:
        Select(form.find_element(By.CSS_SELECTOR, 'select[name="tier"]')).select_by_value(tier)
    if state is not None:
        Select(form.find_element(By.CSS_SELECTOR, 'select[name="state"]')).select_by_value(state)
    if kernel is not None:
        form.find_element(By.CSS_SELECTOR, 'input[name="kernel"]').send_keys(kernel)
    box = form.find_element(By.CSS_SELECTOR, 'input[type="checkbox"][name="stale"]')
    if box.is_selected() != stale:
        box.click()
    submit(driver, form)
    assert urlsplit(driver.current_url).path == "/console/machines"
    return machine_ids(driver)


def test_machines_table_filters_by_tier_state_and_staleness(console, fleet_server, fleet):
    url = fleet_server.url
    console.get(url + "/console/machines")
    assert sorted(machine_ids(console)) == sorted(fleet.machines)
    no_markup_ran(console)

    assert sorted(filter_machines(console, url, tier="stable")) == sorted(fleet.in_tier("stable"))
    assert sorted(filter_machines(console, url, state="applied")) == \
        sorted(mid for mid, m in fleet.machines.items() if m["state"] == "applied")
    assert filter_machines(console, url, tier="edge", state="apply-failed") == ["edge-02"]
    assert filter_machines(console, url, stale=True) == sorted(fleet.stale)
    assert sorted(filter_machines(console, url, kernel="5.4.0-150.167-generic")) == ["beta-02"]
    # The filters stay filled in on the answer.
    assert parse_qs(urlsplit(console.current_url).query).get("kernel") == ["5.4.0-150.167-generic"]

    assert filter_machines(console, url, tier="candidate") == []
    one(console, "p.empty")


def test_machines_table_pages_and_sorts_by_last_check_in(console, fleet_server, fleet):
    console.get(fleet_server.url + "/console/machines")
    first = listed(console)
    assert len(first) == 50 and not css(console, 'a[rel="prev"]')
    click_through(console, one(console, 'a[rel="next"]'))
    second = listed(console)
    assert second and not css(console, 'a[rel="next"]')
    one(console, 'a[rel="prev"]')
    assert sorted(first + second) == sorted(fleet.machines)

    def checked_in(ids):
        return [mid for mid in ids if fleet.machines[mid]["state"] is not None]

    # Newest check-in first: the stale machine after every other that checked in.
    assert checked_in(first + second)[-1] == "stable-old"
    # The column's header link turns the order round.
    console.get(fleet_server.url + "/console/machines")
    click_through(console, one(console, "table#machines thead a[href*='sort=']"))
    assert "sort=last_check_in" in console.current_url
    assert checked_in(machine_ids(console))[0] == "stable-old"


def test_patches_page_lists_the_seeded_patches_per_tier(console, fleet_server, fleet):
    console.get(fleet_server.url + "/console/patches")
    sections = css(console, "section[data-tier]")
    assert [s.get_attribute("data-tier") for s in sections] == fleet.tiers
    for section in sections:
        tier = section.get_attribute("data-tier")
        rows = section.find_elements(By.CSS_SELECTOR, "tr[data-patch]")
        assert sorted(r.get_attribute("data-patch") for r in rows) == \
            sorted(f for f, p in fleet.patches.items() if tier in p["tiers"]), tier
        for row in rows:
            patch = fleet.patches[row.get_attribute("data-patch")]
            assert patch["source"] in row.text, (tier, row.text)
    no_markup_ran(console)

    console.get(fleet_server.url + "/console/patches?tier=stable")
    assert [s.get_attribute("data-tier") for s in css(console, "section[data-tier]")] == ["stable"]


def test_logout_ends_the_session(console, fleet_server):
    submit(console, one(console, "form#logout"))
    assert urlsplit(console.current_url).path == "/console/login"
    one(console, "form#login")
    # The session is gone: any console page sends the browser to the login form.
    console.get(fleet_server.url + "/console/machines")
    redirected_to_login(console, "/console/machines")
    # ... which sends it back there after logging in.
    log_in(console, ADMIN_USER, ADMIN_PASSWORD)
    assert path_of(console) == "/console/machines"
    one(console, "table#machines")


def test_a_bookmarked_filter_survives_the_login(console, fleet_server, fleet):
    """A saved link to filtered machines, opened without a session, comes back filtered."""
    wanted = "/console/machines?tier=edge&state=applied"
    forget_cookies(console)
    console.get(fleet_server.url + wanted)
    redirected_to_login(console, wanted)
    log_in(console, ADMIN_USER, ADMIN_PASSWORD)
    assert path_of(console) == wanted
    assert sorted(machine_ids(console)) == \
        sorted(mid for mid, m in fleet.in_tier("edge").items() if m["state"] == "applied")
    console.get(fleet_server.url + wanted)
    form = one(console, "form#machine-filters")
    assert Select(form.find_element(By.CSS_SELECTOR, 'select[name="tier"]')).first_selected_option \
        .get_attribute("value") == "edge"
    assert Select(form.find_element(By.CSS_SELECTOR, 'select[name="state"]')).first_selected_option \
        .get_attribute("value") == "applied"


def test_pages_raise_no_browser_errors(console, fleet_server):
    """What only a browser sees: no page breaks its Content-Security-Policy (a blocked
    style or script is a console error) or fails to load a resource of its own."""
    browser_errors(console)   # what earlier tests left
    for path in ("/console/", "/console/machines?tier=stable", "/console/patches", "/console/machines?state=bogus"):
        console.get(fleet_server.url + path)
        # (The bad query's own 400 is an error the browser logs too.)
        assert not [e for e in browser_errors(console) if not ("bogus" in path and " 400 " in e)], path
    forget_cookies(console)
    console.get(fleet_server.url + "/console/")
    assert not browser_errors(console), "the login page"


def test_overview_fits_a_phone_width(console):
    try:
        console.set_window_size(390, 844)
        console.refresh()
        one(console, "table#tiers")
        widths = console.execute_script(
            "return [window.innerWidth, document.body.scrollWidth, document.documentElement.scrollWidth]")
        assert widths[0] == 390, widths
        assert widths[1] <= widths[0] and widths[2] <= widths[0], \
            f"the page scrolls sideways at 390 px: body {widths[1]} px, document {widths[2]} px"
        # Nor does a box within it (a table in an overflow-x: auto wrapper would hide
        # its last columns off to the side).
        sideways = console.execute_script("""
            return [...document.querySelectorAll('body *')].filter(el => {
                const x = getComputedStyle(el).overflowX;
                return (x === 'auto' || x === 'scroll') && el.scrollWidth > el.clientWidth + 1;
            }).map(el => el.tagName + (el.id ? '#' + el.id : '') + '.' + el.className
                         + ' ' + el.scrollWidth + '>' + el.clientWidth);""")
        assert not sideways, f"boxes that scroll sideways at 390 px: {sideways}"
    finally:
        console.set_window_size(*WINDOW)


def test_overview_has_a_dark_mode(console):
    try:
        emulate_media(console, "light")
        wait(console, lambda d: d.execute_script("return matchMedia('(prefers-color-scheme: light)').matches"))
        light = page_background(console)
        emulate_media(console, "dark")
        wait(console, lambda d: d.execute_script("return matchMedia('(prefers-color-scheme: dark)').matches"))
        dark = page_background(console)
    finally:
        emulate_media(console, "")
    assert light != dark, f"the same background in light and dark mode: {light}"


def test_reported_html_stays_text(console, fleet_server):
    """The lab machine's cpu-model and the blocked patch's reason look like HTML: on
    the pages that list them nothing of it becomes markup, and where a page shows
    the text it is the text sent."""
    for path, row in (("/console/machines?tier=lab", 'tr[data-machine-id="lab-01"]'),
                      ("/console/patches?tier=edge", 'tr[data-patch$="-107.2-amd64.tar.bz2"]')):
        console.get(fleet_server.url + path)
        shown = one(console, row).text
        no_markup_ran(console)
        if "<script>" in shown:
            assert HTML_LIKE in shown, shown
