"""Fixtures of the browser tests: ONE headless Chromium for the whole session
(starting one costs about a second; idle, it costs no CPU), and per test module ONE
live server with a seeded fleet, on a database of its own copied from the session's
migrated template (tests/conftest.py). The servers are module-scoped, so that they,
their database connections and their databases go once the module's tests are done
instead of lasting through the rest of `make test` (seeding costs about 2 s a module).
Tests share both, so each test navigates where it needs to and logs in again when an
earlier test logged out (the console fixture of test_console_browser.py)."""

import pytest
from browserhelpers import STALE_AFTER, browser_paths, fleet_sync_config, new_driver, seed_fleet, skip_or_fail
from livetest import server_on_new_database


@pytest.fixture(scope="session")
def browser():
    chromium, chromedriver = browser_paths()
    if not (chromium and chromedriver):
        skip_or_fail("chromium and chromedriver are not installed "
                     "(Debian's chromium and chromium-driver packages: make system-deps)")
    driver = new_driver()
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def upstream(pg_admin_dsn, migrated_template, admin_users_entry, tmp_path_factory):
    """The server the fleet's server syncs from."""
    with server_on_new_database(pg_admin_dsn, migrated_template, admin_users_entry,
                                tmp_path_factory.mktemp("upstream"), prefix="lp_browser_up_") as server:
        yield server


@pytest.fixture(scope="module")
def seeded(pg_admin_dsn, migrated_template, admin_users_entry, tmp_path_factory, upstream):
    """(live server, Fleet): the server with the seeded fleet the console shows."""
    # console_stale_after: a setting of the console branch (ignored by a server
    # without it); the stale machine's check-in is older than any sensible value.
    with server_on_new_database(pg_admin_dsn, migrated_template, admin_users_entry,
                                tmp_path_factory.mktemp("fleet"), prefix="lp_browser_",
                                console_stale_after=STALE_AFTER, **fleet_sync_config(upstream)) as server:
        yield server, seed_fleet(server, upstream)


@pytest.fixture(scope="module")
def fleet_server(seeded):
    return seeded[0]


@pytest.fixture(scope="module")
def fleet(seeded):
    """What was seeded (browserhelpers.Fleet)."""
    return seeded[1]
