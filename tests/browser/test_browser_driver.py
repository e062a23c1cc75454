"""The browser tests' own machinery, independent of the console: the headless
Chromium loads a page of the live fleet server, and the seed holds what it says."""

from selenium.webdriver.common.by import By

from livepatch_app import __version__


def test_headless_chromium_loads_the_servers_index_page(browser, fleet_server):
    browser.get(fleet_server.url + "/")
    assert browser.find_element(By.TAG_NAME, "body").text.strip() == f"Livepatch server {__version__}"
    assert browser.execute_script("return [window.innerWidth, navigator.webdriver]") == [1280, True]


def test_the_fleet_is_seeded_through_the_api(fleet_server, fleet):
    tiers = fleet_server.admin("GET", "/v1/admin/tiers").json()["tiers"]
    assert [t["name"] for t in tiers] == fleet.tiers == ["edge", "beta", "candidate", "stable", "lab"]
    assert {t["name"]: t["machines"] for t in tiers} == {tier: len(fleet.in_tier(tier)) for tier in fleet.tiers}
    assert {p["source"] for p in fleet.patches.values()} == {"upload", "sync", "import"}
    assert [run["result"] for run in fleet.sync_runs] == ["success", "failed"]
    assert fleet.stale == {"stable-old"}
    stale_days = fleet_server.sql("SELECT extract(day FROM now() - last_check_in) FROM machines"
                                  " WHERE machine_id = 'stable-old'")[0][0]
    assert stale_days >= 39
