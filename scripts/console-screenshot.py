"""The docs' picture of the web console: starts a live server on a throwaway
PostgreSQL (embedded, or the server LIVEPATCH_TEST_DATABASE_URL names), seeds the
browser tests' fleet (tests/browser/browserhelpers.py), logs in through the console's
form in a headless Chromium and saves the overview, 1280 px wide and as tall as the
page, to docs/console-overview.png (or the path given).

    make screenshot            # installs chromium and chromium-driver when missing
    .venv/bin/python scripts/console-screenshot.py [OUT.png] [--dark]
"""

import argparse
import logging
import os
import pathlib
import sys
import tempfile
import uuid

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "browser")]

from browserhelpers import (WINDOW, emulate_media, fleet_sync_config, log_in, new_driver,  # noqa: E402
                            path_of, seed_fleet)
from livetest import (ADMIN_PASSWORD, ADMIN_USER, create_database, drop_database, server_on_new_database,  # noqa: E402
                      with_dbname)

from livepatch_app import schema  # noqa: E402
from livepatch_app.auth_users import hash_password  # noqa: E402


def screenshot(admin_dsn, out, dark=False):
    users = f"{ADMIN_USER}:{hash_password(ADMIN_PASSWORD, rounds=4)}"
    template = "lp_shot_template_" + uuid.uuid4().hex[:8]
    create_database(admin_dsn, template)
    try:
        schema.upgrade(with_dbname(admin_dsn, template))
        with tempfile.TemporaryDirectory(prefix="lp-shot-") as folder, \
                server_on_new_database(admin_dsn, template, users, os.path.join(folder, "up"),
                                       prefix="lp_shot_up_") as upstream, \
                server_on_new_database(admin_dsn, template, users, os.path.join(folder, "fleet"),
                                       prefix="lp_shot_", **fleet_sync_config(upstream)) as server:
            seed_fleet(server, upstream)
            driver = new_driver(*WINDOW)
            try:
                if dark:
                    emulate_media(driver, "dark")
                driver.get(server.url + "/console/")
                log_in(driver, ADMIN_USER, ADMIN_PASSWORD)
                if path_of(driver) != "/console/":
                    raise SystemExit(f"login did not reach the overview: {driver.current_url}")
                # The whole page in one picture: a viewport exactly 1280 px wide and as tall
                # as the document (the window's outer size is not the viewport's: DevTools
                # protocol Emulation.setDeviceMetricsOverride,
                # https://chromedevtools.github.io/devtools-protocol/tot/Emulation/#method-setDeviceMetricsOverride).
                height = driver.execute_script("return document.documentElement.scrollHeight")
                driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                    "width": WINDOW[0], "height": height, "deviceScaleFactor": 1, "mobile": False})
                if not driver.save_screenshot(str(out)):
                    raise SystemExit(f"could not write {out}")
            finally:
                driver.quit()
    finally:
        drop_database(admin_dsn, template)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(ROOT / "docs" / "console-overview.png"))
    parser.add_argument("--dark", action="store_true", help="prefers-color-scheme: dark")
    args = parser.parse_args()
    # The servers run without serve's logging set-up: only what goes wrong is shown (the
    # seed's deliberately failed sync run logs a warning).
    logging.getLogger().setLevel(logging.ERROR)
    dsn = os.environ.get("LIVEPATCH_TEST_DATABASE_URL")
    if dsn:
        screenshot(dsn, args.out, args.dark)
    else:
        from livepatch_app.embedded_pg import EmbeddedPostgres

        pg = EmbeddedPostgres(tempfile.mkdtemp(prefix="lp-shot-pg-"), durable=False)
        try:
            screenshot(pg.start(), args.out, args.dark)
        finally:
            pg.delete()
    print(args.out)


if __name__ == "__main__":
    main()
