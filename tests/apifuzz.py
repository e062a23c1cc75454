"""Schemathesis against a live server, the way tests/server/test_openapi_fuzz.py runs it
and the way a developer can run it by hand while mending the OpenAPI document:

    .venv/bin/python tests/apifuzz.py [--anonymous] [schemathesis run options...]

starts `python -m livepatch_app serve` on an embedded PostgreSQL in a temporary folder,
seeds it (a tier, a patch, an enabled machine, a sync token) and runs
`schemathesis run` with every check (tests/schemathesis.toml says which credentials
each security scheme gets: LP_* variables that seed() returns)."""

import os
import secrets
import subprocess
import sys
import tempfile

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = os.path.join(HERE, "schemathesis.toml")
PATCH = "livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2"
SEED = 20261202  # fixed: a failure in CI replays the same way on a laptop
# Appended to schemathesis.toml for the authenticated run (${VAR}: from seed()).
AUTHENTICATED = """
[auth.openapi]
adminBasic = { username = "${LP_ADMIN_USER}", password = "${LP_ADMIN_PASSWORD}" }
adminBearer = { bearer = "${LP_SESSION_TOKEN}" }
authTokenBearer = { bearer = "${LP_AUTH_TOKEN}" }
machineBearer = { bearer = "${LP_MACHINE_TOKEN}" }
syncBearer = { bearer = "${LP_SYNC_TOKEN}" }

# The machine token belongs to one machine: check-ins and info for that machine id
# reach the check-in logic (other ids are 403 machine-mismatch, also documented).
[[operations]]
include-path-regex = "^/(v1/client/[{]machine_id[}]/(updates|info)|api/machine/[{]machine_id[}])$"
parameters = { machine_id = "${LP_MACHINE_ID}" }
"""


def seed(url, user, password):
    """Data for the fuzzer to find, and the credentials of every security scheme."""
    admin = requests.Session()
    admin.auth = (user, password)

    def call(method, path, expect, **kwargs):
        response = admin.request(method, url + path, timeout=30, **kwargs)
        assert response.status_code == expect, (method, path, response.status_code, response.text)
        return response.json()

    call("PUT", f"/v1/admin/patches/{PATCH}", 201, data=os.urandom(4096))
    call("POST", "/v1/admin/patches/107.1/promote", 200, json={"tier": "stable"})
    auth_token = call("POST", "/v1/admin/auth-token", 200, json={"id": "fuzz-fleet", "tier": "stable"})["token"]
    machine_id = secrets.token_hex(16)
    enabled = requests.put(f"{url}/v1/client/{machine_id}", headers={"Authorization": f"Bearer {auth_token}"},
                           timeout=30)
    assert enabled.status_code == 200, enabled.text
    sync_token = call("POST", "/v1/admin/sync-tokens", 200, json={"name": "fuzz-downstream", "tier": "stable"})["token"]
    session = call("POST", "/v1/admin/login", 200)["token"]
    return {
        "LP_ADMIN_USER": user, "LP_ADMIN_PASSWORD": password, "LP_SESSION_TOKEN": session,
        "LP_AUTH_TOKEN": auth_token, "LP_MACHINE_ID": machine_id,
        "LP_MACHINE_TOKEN": enabled.json()["machine-token"], "LP_SYNC_TOKEN": sync_token,
        "LP_PATCH_FILENAME": PATCH, "LP_PATCH_VERSION": "107.1",
    }


def run_schemathesis(url, credentials, anonymous, folder, extra_args=(), timeout=900):
    """-> CompletedProcess of `schemathesis run` (output captured as text); its config
    file and reports go to `folder`."""
    with open(CONFIG, encoding="utf-8") as shared:
        config = shared.read() + ("" if anonymous else AUTHENTICATED)
    config_path = os.path.join(folder, "anonymous.toml" if anonymous else "authenticated.toml")
    with open(config_path, "w", encoding="utf-8") as handle:
        handle.write(config)
    command = [os.path.join(os.path.dirname(sys.executable), "schemathesis"), "--config-file", config_path,
               "run", f"{url}/v1/openapi.json", "--checks", "all", "--seed", str(SEED), "--no-color",
               "--report", "junit", "--report-dir", str(folder), *extra_args]
    return subprocess.run(command, env=dict(os.environ, **credentials), capture_output=True, text=True,
                          timeout=timeout, cwd=folder)


def fuzz(database_url, folder, anonymous, extra_args=()):
    """Serves a freshly migrated database_url, seeds it, runs schemathesis; -> CompletedProcess.
    The authenticated run's server allows many failed credentials before it throttles:
    ignored_auth sends invalid credentials to every operation and wants 401 or 403
    each time, not the 429 that test_auth_throttle.py expects past a few."""
    from livepatch_app.auth_users import hash_password
    from livetest import start_serve_process

    subprocess.run([sys.executable, "-m", "livepatch_app", "schema", "upgrade"], check=True,
                   env=dict(os.environ, LIVEPATCH_DATABASE_URL=database_url), stdout=subprocess.DEVNULL)
    password = secrets.token_urlsafe(12)
    options = {} if anonymous else {"auth_throttle_free_failures": 1_000_000}
    process, url = start_serve_process(database_url, f"admin:{hash_password(password, rounds=4)}", folder,
                                       **options)
    try:
        credentials = seed(url, "admin", password)
        return run_schemathesis(url, credentials, anonymous, folder, extra_args)
    finally:
        process.terminate()
        process.wait(30)


def main(argv):
    from livepatch_app.embedded_pg import EmbeddedPostgres

    anonymous = "--anonymous" in argv
    extra = [arg for arg in argv if arg != "--anonymous"]
    with tempfile.TemporaryDirectory(prefix="apifuzz-") as folder:
        pg = EmbeddedPostgres(os.path.join(folder, "pg"), durable=False)
        try:
            result = fuzz(pg.start(), folder, anonymous, extra)
        finally:
            pg.stop()
        print(result.stdout[-30000:], result.stderr[-5000:])
        return result.returncode


if __name__ == "__main__":
    sys.path[:0] = [HERE, os.path.dirname(HERE)]
    sys.exit(main(sys.argv[1:]))
