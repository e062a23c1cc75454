"""Admin machine views: list with filters and paging, forget."""

import psycopg2

KERNEL = "5.15.0-107.117-generic"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def fleet(server):
    """edge: m-a (applied 107.1), m-b (apply-failed 107.1), m-c (never checked in);
    stable: m-d (applied 107.1, other kernel)."""
    tokens = {}
    for tier, machines in (("edge", ("m-a", "m-b", "m-c")), ("stable", ("m-d",))):
        r = server.admin("POST", "/v1/admin/auth-token", json={"id": f"tok-{tier}", "tier": tier})
        auth = r.json()["token"]
        for machine in machines:
            r = server.request("PUT", f"/v1/client/{machine}", headers=bearer(auth))
            tokens[machine] = r.json()["machine-token"]
    reports = {"m-a": ("applied", "107.1", KERNEL), "m-b": ("apply-failed", "107.1", KERNEL),
               "m-d": ("applied", "107.1", "5.4.0-150.167-generic")}
    for machine, (state, version, kernel) in reports.items():
        r = server.request("POST", f"/v1/client/{machine}/updates", headers=bearer(tokens[machine]),
                           json={"kernel": kernel, "architecture": "amd64", "patch-state": state,
                                 "patch-version": version, "uptime": 5})
        assert r.status_code == 200, r.text
    return tokens


def ids(response):
    assert response.status_code == 200, response.text
    return [m["machine-id"] for m in response.json()["machines"]]


def test_list_and_filters(server):
    fleet(server)
    r = server.admin("GET", "/v1/admin/machines")
    assert ids(r) == ["m-a", "m-b", "m-c", "m-d"] and r.json()["total"] == 4
    first = r.json()["machines"][0]
    assert first["tier"] == "edge" and first["auth-token"] == "tok-edge" and first["patch-state"] == "applied"
    assert first["kernel"] == KERNEL and first["uptime"] == 5 and first["last-check-in"].endswith("Z")
    # The auth token's label, never a secret.
    assert set(first) == {"machine-id", "tier", "enabled", "auth-token", "created", "last-check-in", "kernel",
                          "architecture", "patch-state", "patch-version", "client-version", "boot-time",
                          "uptime", "cpu-model"}
    assert ids(server.admin("GET", "/v1/admin/machines?tier=edge")) == ["m-a", "m-b", "m-c"]
    assert ids(server.admin("GET", "/v1/admin/machines?tier=stable")) == ["m-d"]
    assert ids(server.admin("GET", "/v1/admin/machines?tier=beta")) == []
    assert ids(server.admin("GET", f"/v1/admin/machines?kernel={KERNEL}")) == ["m-a", "m-b"]
    assert ids(server.admin("GET", "/v1/admin/machines?state=applied")) == ["m-a", "m-d"]
    assert ids(server.admin("GET", "/v1/admin/machines?state=applied&tier=edge&version=107.1")) == ["m-a"]
    assert ids(server.admin("GET", "/v1/admin/machines?version=99.9")) == []


def test_paging(server):
    fleet(server)
    r = server.admin("GET", "/v1/admin/machines?limit=2&offset=1")
    assert ids(r) == ["m-b", "m-c"]
    assert r.json()["total"] == 4 and r.json()["limit"] == 2 and r.json()["offset"] == 1
    r = server.admin("GET", "/v1/admin/machines?limit=2&offset=4")
    assert ids(r) == [] and r.json()["total"] == 4


def test_bad_queries(server):
    for query, status, code in (("tier=nope", 404, "tier-not-found"), ("state=great", 400, "invalid-query"),
                                ("state=%20applied", 400, "invalid-query"), ("tier=%20", 404, "tier-not-found"),
                                ("limit=0", 400, "invalid-query"), ("limit=x", 400, "invalid-query"),
                                ("offset=-1", 400, "invalid-query"), ("limit=100000", 400, "invalid-query")):
        r = server.admin("GET", f"/v1/admin/machines?{query}")
        assert r.status_code == status and r.json()["code"] == code, query


def test_forget(server):
    tokens = fleet(server)
    r = server.admin("DELETE", "/v1/admin/machines/m-a")
    assert r.status_code == 200 and r.json() == {"machine-id": "m-a", "forgotten": True}
    assert ids(server.admin("GET", "/v1/admin/machines?tier=edge")) == ["m-b", "m-c"]
    # Its token is gone with it.
    r = server.request("GET", "/v1/client/m-a/info", headers=bearer(tokens["m-a"]))
    assert r.status_code == 401
    r = server.request("POST", "/v1/client/m-a/updates", headers=bearer(tokens["m-a"]),
                       json={"kernel": KERNEL, "architecture": "amd64"})
    assert r.status_code == 401
    # Its history stays until the retention clean-up.
    conn = psycopg2.connect(server.config.database_url)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM machine_reports WHERE machine_id = 'm-a'")
        assert cur.fetchone()[0] == 1
    conn.close()
    r = server.admin("DELETE", "/v1/admin/machines/m-a")
    assert r.status_code == 404 and r.json()["code"] == "machine-not-found"
    r = server.admin("DELETE", "/v1/admin/machines/bad%20id")
    assert r.status_code == 400 and r.json()["code"] == "invalid-machine-id"
    # The auth token's count follows.
    listed = server.admin("GET", "/v1/admin/auth-tokens").json()["auth-tokens"]
    assert {t["id"]: t["machines-enabled"] for t in listed} == {"tok-edge": 2, "tok-stable": 1}


def test_admin_auth_required(server):
    for method, path in (("GET", "/v1/admin/machines"), ("DELETE", "/v1/admin/machines/m-a"),
                         ("GET", "/v1/admin/reports/machines?tier=edge"),
                         ("GET", "/v1/admin/reports/patch-health?tier=edge&version=1.1")):
        assert server.request(method, path).status_code == 401, path
        assert server.request(method, path, auth=("admin", "nope")).status_code == 401, path
