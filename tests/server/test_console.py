"""The web console (/console/) without a browser: every page needs a session (303 to the
login form), the login goes through the admin credential check and its throttle, the
session is a server-side admin session in a cookie with the right flags, logout revokes
it, every answer carries the security headers, output is escaped, and bad query
parameters get a 400 page, never a 500. (Tests in a real browser come from the
console-browser branch, against the page contract these pages follow.)"""

import re

import pytest
import requests

from livepatch_app.tokens import token_hash
from livetest import ADMIN_PASSWORD, ADMIN_USER

PAGES = ["/console/", "/console/machines", "/console/patches", "/console/machines?tier=edge&page=2"]
COOKIE = "livepatch_console"


def console_login(server, session=None, password=ADMIN_PASSWORD, user=ADMIN_USER, next_path=None, headers=None):
    session = session or requests.Session()
    data = {"username": user, "password": password}
    if next_path is not None:
        data["next"] = next_path
    response = session.post(server.url + "/console/login", data=data, allow_redirects=False,
                            headers=headers or {}, timeout=30)
    return session, response


@pytest.fixture
def browser(server):
    session, response = console_login(server)
    assert response.status_code == 303, response.text
    return session


def get(server, session, path, **kwargs):
    return session.get(server.url + path, allow_redirects=False, timeout=30, **kwargs)


def assert_security_headers(response):
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in csp and "unsafe-inline" not in csp and "http" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", PAGES)
def test_every_page_without_a_session_redirects_to_the_login(server, path):
    response = get(server, requests.Session(), path)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/console/login?next=")
    assert requests.utils.unquote(response.headers["Location"].split("next=", 1)[1]) == path
    assert_security_headers(response)
    # A forged or revoked cookie is no session either.
    response = get(server, requests.Session(), path, cookies={COOKIE: "x" * 43})
    assert response.status_code == 303


def test_every_console_route_is_covered_by_the_session_check(server):
    """Every GET page of the blueprint but the login form and the stylesheet is in PAGES,
    so the test above covers a page added later too (or this fails)."""
    routes = {rule.rule for rule in server.app.url_map.iter_rules()
              if rule.endpoint.startswith("console.") and "GET" in rule.methods}
    assert routes - {"/console/login", "/console/style.css"} == {p.split("?")[0] for p in PAGES}
    response = get(server, requests.Session(), "/console")
    assert response.status_code == 308 and response.headers["Location"].endswith("/console/")


def test_login_form_follows_the_contract(server):
    response = get(server, requests.Session(), "/console/login?next=/console/patches")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    html = response.text
    assert '<form id="login" method="post" action="/console/login">' in html
    assert 'name="username"' in html and 'name="password" type="password"' in html
    assert '<input type="hidden" name="next" value="/console/patches">' in html
    assert 'type="submit"' in html
    assert_security_headers(response)
    assert response.headers["Cache-Control"] == "no-store"


def test_login_sets_a_session_cookie_with_strict_flags(server):
    session, response = console_login(server, next_path="/console/machines?tier=edge")
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/machines?tier=edge"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags and "samesite=strict" in flags and "path=/console/" in flags
    assert "secure" not in flags  # plain http, no trusted proxy
    token = cookie.split(";")[0].split("=", 1)[1]
    rows = server.sql("SELECT username, revoked_at, expires_at > now() FROM admin_sessions WHERE token_hash = %s",
                      (token_hash(token),))
    assert rows == [(ADMIN_USER, None, True)]  # the API's kind of session, stored hashed
    page = get(server, session, "/console/")
    assert page.status_code == 200
    assert_security_headers(page)
    assert page.headers["Cache-Control"] == "no-store"


def test_cookie_is_secure_over_tls_seen_by_a_trusted_proxy_only(make_server):
    trusting = make_server(trusted_proxies="127.0.0.1")
    _, response = console_login(trusting, headers={"X-Forwarded-Proto": "https",
                                                   "Origin": f"https://127.0.0.1:{trusting.config.port}"})
    assert response.status_code == 303
    assert "secure" in [p.strip().lower() for p in response.headers["Set-Cookie"].split(";")]
    # Redirects werkzeug builds keep the browser's scheme (no downgrade to http).
    slash = trusting.request("GET", "/console", headers={"X-Forwarded-Proto": "https", "Host": "lp.example"},
                             allow_redirects=False)
    assert slash.status_code == 308 and slash.headers["Location"] == "https://lp.example/console/"
    # The same header from a peer that is not trusted counts for nothing.
    plain = make_server()
    _, response = console_login(plain, headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 303
    assert "secure" not in [p.strip().lower() for p in response.headers["Set-Cookie"].split(";")]


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/console/", "/v1/admin/tiers",
                                    "/console/../v1/admin/tiers", "/console/%2e%2e/v1/admin/tiers",
                                    "/console/%2E%2E%2Fv1", "/console/./x", "javascript:alert(1)",
                                    "\\\\evil.example", "/console/\\..\\v1", "http:/console/",
                                    "//[", "http://[x/console/"])
def test_login_never_redirects_off_the_console(server, target):
    _, response = console_login(server, next_path=target)
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/"


def test_wrong_password_is_refused_then_throttled(server):
    statuses = []
    for _ in range(12):
        _, response = console_login(server, password="wrong-password")
        statuses.append(response.status_code)
        assert_security_headers(response)
        assert '<p class="error" role="alert">' in response.text
        assert COOKIE not in response.headers.get("Set-Cookie", "")
        if response.status_code == 429:
            break
    assert statuses[0] == 401
    assert statuses[-1] == 429, statuses
    assert int(response.headers["Retry-After"]) >= 1
    assert "try again in" in response.text
    # The same throttle as the API's login: it is held too, right password or not.
    api = server.request("POST", "/v1/admin/login", auth=(ADMIN_USER, ADMIN_PASSWORD))
    assert api.status_code == 429


def test_logout_revokes_the_session(server, browser):
    token = browser.cookies[COOKIE]
    page = get(server, browser, "/console/")
    assert '<form id="logout" method="post" action="/console/logout">' in page.text
    response = browser.post(server.url + "/console/logout", allow_redirects=False, timeout=30)
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/login"
    rows = server.sql("SELECT revoked_at IS NOT NULL FROM admin_sessions WHERE token_hash = %s",
                      (token_hash(token),))
    assert rows == [(True,)]
    # Even with the old cookie kept, the pages are closed.
    assert get(server, requests.Session(), "/console/", cookies={COOKIE: token}).status_code == 303


def test_a_new_login_ends_the_session_the_browser_held(server, browser):
    old = browser.cookies[COOKIE]
    _, response = console_login(server, session=browser)
    assert response.status_code == 303 and browser.cookies[COOKIE] != old
    rows = server.sql("SELECT revoked_at IS NOT NULL FROM admin_sessions WHERE token_hash = %s", (token_hash(old),))
    assert rows == [(True,)]


def test_sessions_end_when_their_user_is_removed(make_server):
    """A user taken out of auth_basic_users loses their console and API sessions too."""
    from livepatch_app.auth_users import hash_password

    server = make_server()
    session, response = console_login(server)
    assert response.status_code == 303
    api_token = server.admin("POST", "/v1/admin/login").json()["token"]
    token = session.cookies[COOKIE]
    assert get(server, session, "/console/").status_code == 200
    # The same database served with the admin taken out of auth_basic_users (a config change).
    other = make_server(database_url=server.config.database_url,
                        auth_basic_users=f"other:{hash_password('other-pass', rounds=4)}")
    assert get(other, session, "/console/").status_code == 303
    answer = other.request("GET", "/v1/admin/tiers", headers={"Authorization": f"Bearer {api_token}"})
    assert answer.status_code == 401 and answer.json()["code"] == "invalid-token"
    # Where the admin still is, the same session still opens the pages (the cookie is sent
    # by hand: the refusal above made the client drop it).
    assert get(server, requests.Session(), "/console/", cookies={COOKIE: token}).status_code == 200


@pytest.mark.parametrize("origin", ["http://[::1", "http://[x"])
def test_an_unparsable_origin_is_refused_not_a_500(server, origin):
    response = server.request("POST", "/console/logout", headers={"Origin": origin}, allow_redirects=False)
    assert response.status_code == 403
    assert_security_headers(response)


def test_errors_waitress_answers_under_the_console_carry_its_headers(server):
    """A body past the route's limit is refused by waitress before the app runs
    (serve._JsonErrorTask); under /console/ the answer has the console's headers too."""
    response = server.request("POST", "/console/login", data=b"username=" + b"A" * 200_000,
                              headers={"Content-Type": "application/x-www-form-urlencoded"}, allow_redirects=False)
    assert response.status_code == 413
    assert_security_headers(response)
    assert response.headers["Cache-Control"] == "no-store"


def test_a_post_from_another_origin_is_refused(server, browser):
    _, response = console_login(server, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert "Set-Cookie" not in response.headers
    response = browser.post(server.url + "/console/logout", headers={"Origin": "https://evil.example"},
                            allow_redirects=False, timeout=30)
    assert response.status_code == 403
    assert get(server, browser, "/console/").status_code == 200  # not logged out
    for origin in ("null", f"http://127.0.0.1:{server.config.port + 1}", "http://localhost",
                   f"http://127.0.0.1:{server.config.port}.evil.example"):
        assert browser.post(server.url + "/console/logout", headers={"Origin": origin},
                            allow_redirects=False, timeout=30).status_code == 403, origin
    own = browser.post(server.url + "/console/logout", headers={"Origin": server.url},
                       allow_redirects=False, timeout=30)
    assert own.status_code == 303


def test_origin_behind_a_proxy_terminating_tls(make_server):
    """Behind haproxy with TLS, the browser's Origin is https://<the address it used>; the
    Host header is the same address. Without a trusted X-Forwarded-Proto the server sees
    http: the same host passes. With it, an http origin is refused."""
    host = {"Host": "livepatch.example"}
    plain = make_server()
    _, response = console_login(plain, headers={**host, "Origin": "https://livepatch.example"})
    assert response.status_code == 303
    _, response = console_login(plain, headers={**host, "Origin": "https://evil.example"})
    assert response.status_code == 403
    trusting = make_server(trusted_proxies="127.0.0.1")
    tls = {**host, "X-Forwarded-Proto": "https"}
    _, response = console_login(trusting, headers={**tls, "Origin": "https://livepatch.example"})
    assert response.status_code == 303
    _, response = console_login(trusting, headers={**tls, "Origin": "http://livepatch.example"})
    assert response.status_code == 403


def test_the_api_session_token_and_the_console_are_the_same_kind(server, browser):
    """A console session is an admin session: the API takes its token as a Bearer token."""
    token = browser.cookies[COOKIE]
    response = server.request("GET", "/v1/admin/tiers", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_console_has_no_state_changing_route(server):
    rules = [rule for rule in server.app.url_map.iter_rules() if rule.rule.startswith("/console")]
    changing = {(rule.rule, method) for rule in rules for method in rule.methods - {"GET", "HEAD", "OPTIONS"}}
    assert changing == {("/console/login", "POST"), ("/console/logout", "POST")}


def test_every_page_has_the_headers_and_no_script(server, browser):
    seed_fleet(server)  # every part of every page shows (the bars, the tables)
    for path in PAGES + ["/console/login", "/console/style.css", "/console/no-such-page"]:
        response = get(server, browser, path)
        assert_security_headers(response)
        if path != "/console/style.css":
            assert response.headers["Cache-Control"] == "no-store"
        assert "<script" not in response.text.lower()
        # Nothing the CSP would block: no inline style attribute or element, no event handler.
        assert not re.search(r"""\sstyle=|<style|\son[a-z]+=""", response.text, re.I), path
        assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", response.text), path
    css = get(server, browser, "/console/style.css")
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    assert "prefers-color-scheme: dark" in css.text and "url(" not in css.text and "@import" not in css.text


def test_html_from_the_fleet_is_escaped(server, browser):
    evil = "<script>alert(1)</script>"
    server.sql("INSERT INTO auth_tokens (label, token_hash, tier_id) SELECT %s, 'h1', id FROM tiers"
               " WHERE name = 'stable'", (evil,))
    server.sql("""INSERT INTO machines (machine_id, token_hash, tier_id, auth_token_id, last_check_in, kernel,
                                        patch_state, cpu_model)
                  SELECT 'm-evil', 't1', t.id, a.id, now(), %s, 'applied', %s
                  FROM tiers t, auth_tokens a WHERE t.name = 'stable' AND a.token_hash = 'h1'""", (evil, evil))
    server.sql("INSERT INTO sync_runs (result, error, finished_at) VALUES ('failed', %s, now())", (evil,))
    for path in ["/console/", "/console/machines", "/console/machines?kernel=" + requests.utils.quote(evil)]:
        html = get(server, browser, path).text
        assert evil not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path


def test_a_patch_name_with_html_is_escaped(server, browser):
    evil = '"><script>alert(1)</script>'
    server.sql("""INSERT INTO patches (filename, kernel, kernel_base, abi, build, flavour, version, version_major,
                                       version_minor, architecture, sha256, size, storage_key)
                  VALUES (%s, %s, '5.15.0', 107, 117, 'generic', '107.1', 107, 1, 'amd64', repeat('a', 64), 1, 'k')""",
               (evil, evil))
    server.sql("INSERT INTO patch_tiers (patch_id, tier_id) SELECT p.id, t.id FROM patches p, tiers t")
    html = get(server, browser, "/console/patches").text
    assert "<script>" not in html
    assert 'data-patch="&#34;&gt;&lt;script&gt;' in html


@pytest.mark.parametrize("query", ["page=0", "page=abc", "page=-1", "page=99999999999", "page=%C2%B2",
                                   "page=%D9%A1", "page=" + "1" * 5000, "sort=machine_id",
                                   "sort=drop%20table", "state=exploded", "tier=no-such-tier"])
def test_bad_query_parameters_get_a_400_page(server, browser, query):
    response = get(server, browser, "/console/machines?" + query)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")
    assert '<p class="error" role="alert">' in response.text
    assert_security_headers(response)


def test_bad_tier_on_the_patches_page_is_a_400(server, browser):
    assert get(server, browser, "/console/patches?tier=nope").status_code == 400


@pytest.mark.parametrize("query", ["kernel=%00", "kernel=%ff", "tier=%C0%80"])
def test_text_no_column_can_hold_is_a_400(server, browser, query):
    response = get(server, browser, "/console/machines?" + query)
    assert response.status_code == 400
    assert_security_headers(response)


def seed_fleet(server):
    """Machines in three tiers with states, kernels and check-in times, one of them stale,
    one never reported; a patch in edge and stable, one blocked; two sync runs."""
    server.sql("""INSERT INTO machines (machine_id, token_hash, tier_id, last_check_in, created_at, kernel,
                                        architecture, patch_state, patch_version)
                  SELECT 'm' || lpad(i::text, 3, '0'), 'tok' || i, t.id,
                         CASE WHEN i = 1 THEN now() - interval '3 days' WHEN i = 2 THEN NULL
                              ELSE now() - i * interval '1 minute' END,
                         now() - interval '10 days',
                         CASE WHEN i = 2 THEN NULL WHEN mod(i, 3) = 0 THEN '6.8.0-35.35-generic'
                              ELSE '5.15.0-107.117-generic' END,
                         'amd64',
                         CASE WHEN i = 2 THEN NULL WHEN mod(i, 4) = 0 THEN 'apply-failed' ELSE 'applied' END,
                         '107.1'
                  FROM generate_series(1, 60) i
                  JOIN tiers t ON t.name = CASE WHEN i <= 10 THEN 'edge' WHEN i <= 25 THEN 'beta' ELSE 'stable' END""")
    for name, version, blocked in (("livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2", "107.1", False),
                                   ("livepatch-5.15.0-107.117-generic-107.2-amd64.tar.bz2", "107.2", True)):
        server.sql("""INSERT INTO patches (filename, kernel, kernel_base, abi, build, flavour, version, version_major,
                                           version_minor, architecture, sha256, size, storage_key, source)
                      VALUES (%s, '5.15.0-107.117', '5.15.0', 107, 117, 'generic', %s, 107, %s, 'amd64',
                              repeat('a', 64), 123456, 'k' || %s, 'sync')""",
                   (name, version, int(version.split(".")[1]), name))
        server.sql("""INSERT INTO patch_tiers (patch_id, tier_id) SELECT p.id, t.id FROM patches p, tiers t
                      WHERE p.filename = %s AND t.name IN ('edge', 'stable')""", (name,))
        if blocked:
            server.sql("INSERT INTO blocklist (filename, reason) VALUES (%s, 'broken')", (name,))
    server.sql("""INSERT INTO sync_runs (started_at, finished_at, result, patches_added, bytes)
                  VALUES (now() - interval '2 hours', now() - interval '2 hours', 'success', 3, 300000),
                         (now() - interval '1 hour', now() - interval '1 hour', 'failed', 0, 0)""")


def rows(html, attribute):
    return re.findall(r'<tr %s="([^"]*)"' % attribute, html)


def test_overview_shows_the_fleet(server, browser):
    seed_fleet(server)
    html = get(server, browser, "/console/").text
    assert rows(html, "data-tier") == ["edge", "beta", "candidate", "stable"]  # tier order
    edge = html.split('<tr data-tier="edge">')[1].split("</tr>")[0]
    assert '<td data-col="machines" class="num">10</td>' in edge
    assert re.search(r'<td data-col="stale" class="num"><a class="warn" href="/console/machines\?tier=edge&amp;stale=1"'
                     r' title="[^"]+">2</a></td>', edge)  # m001 and m002, both in edge
    assert ">107.1</a>" in edge  # the newest unblocked version, not the blocked 107.2
    assert '<span data-state="applied" class="num">7</span>' in edge
    assert '<span data-state="apply-failed" class="num">2</span>' in edge
    assert '<span data-state="unknown" class="num">1</span>' in edge  # m002 never reported
    assert "<svg" in edge and "<rect" in edge
    candidate = html.split('<tr data-tier="candidate">')[1].split("</tr>")[0]
    assert '<td data-col="machines" class="num">0</td>' in candidate and "data-state" not in candidate
    assert '<span id="failing-count" class="big num">15</span>' in html  # every 4th machine
    assert '<span id="stale-count" class="big num">2</span>' in html  # m001, and m002: enabled 10 days ago, never seen
    assert rows(html, "data-kernel") == ["5.15.0-107.117-generic", "6.8.0-35.35-generic"]
    assert len(rows(html, "data-sync-run")) == 2
    assert '<section id="health"' in html and "up to date" in html
    assert re.search(r'<time datetime="[^"]+Z" title="[^"]+Z">1 h ago</time>', html)  # relative, exact on hover


def test_overview_of_an_empty_fleet_says_what_to_do(server, browser):
    html = get(server, browser, "/console/").text
    assert "No machines yet: create an auth token with <code>livepatch-admin auth-token" in html
    assert rows(html, "data-tier") == ["edge", "beta", "candidate", "stable"]
    assert '<span id="stale-count" class="big num">0</span>' in html
    assert "No sync run yet" in html and "No kernel reported yet" in html


def test_machines_page_filters_sorts_and_pages(server, browser):
    seed_fleet(server)
    html = get(server, browser, "/console/machines").text
    assert '<form id="machine-filters" method="get"' in html
    ids = rows(html, "data-machine-id")
    assert len(ids) == 50 and ids[0] == "m003"  # newest check-in first
    assert 'rel="next"' in html and 'rel="prev"' not in html
    page2 = get(server, browser, "/console/machines?page=2").text
    ids2 = rows(page2, "data-machine-id")
    assert len(ids2) == 10 and not set(ids) & set(ids2) and 'rel="prev"' in page2 and 'rel="next"' not in page2
    oldest = rows(get(server, browser, "/console/machines?sort=last_check_in").text, "data-machine-id")
    assert oldest[:2] == ["m002", "m001"]  # never checked in, then the stale one
    stale = get(server, browser, "/console/machines?stale=1").text
    assert rows(stale, "data-machine-id") == ["m001", "m002"]
    assert stale.count('class="badge"') == 2
    edge_failed = rows(get(server, browser, "/console/machines?tier=edge&state=apply-failed").text, "data-machine-id")
    assert sorted(edge_failed) == ["m004", "m008"]
    assert rows(get(server, browser, "/console/machines?tier=edge&state=unknown").text, "data-machine-id") == ["m002"]
    kernel = rows(get(server, browser, "/console/machines?kernel=6.8.0-35.35-generic").text, "data-machine-id")
    assert len(kernel) == 20
    empty = get(server, browser, "/console/machines?tier=candidate").text
    assert rows(empty, "data-machine-id") == [] and '<p class="empty">' in empty
    beyond = get(server, browser, "/console/machines?page=9")
    assert beyond.status_code == 200 and '<p class="empty">' in beyond.text


def test_machine_ids_are_shown_as_the_admin_api_shows_them(server, browser):
    seed_fleet(server)
    api = server.admin("GET", "/v1/admin/machines", params={"tier": "edge"}).json()["machines"]
    html = get(server, browser, "/console/machines?tier=edge").text
    assert sorted(rows(html, "data-machine-id")) == sorted(m["machine-id"] for m in api)


def test_patches_page_per_tier(server, browser):
    seed_fleet(server)
    html = get(server, browser, "/console/patches").text
    assert re.findall(r'<section data-tier="([^"]+)"', html) == ["edge", "beta", "candidate", "stable"]
    edge = html.split('<section data-tier="edge"')[1].split("</section>")[0]
    assert rows(edge, "data-patch") == ["livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2",
                                        "livepatch-5.15.0-107.117-generic-107.2-amd64.tar.bz2"]
    blocked = edge.split('data-patch="livepatch-5.15.0-107.117-generic-107.2-amd64.tar.bz2"')[1].split("</tr>")[0]
    assert '<td data-col="source">sync</td>' in blocked and "blocked</span>" in blocked
    assert '<td data-col="size" class="num" title="123456 bytes">120.6 KiB</td>' in blocked
    only = get(server, browser, "/console/patches?tier=stable").text
    assert re.findall(r'<section data-tier="([^"]+)"', only) == ["stable"]


def test_errors_under_the_console_are_html_pages(server, browser):
    missing = get(server, browser, "/console/no-such-page")
    assert missing.status_code == 404 and missing.headers["Content-Type"].startswith("text/html")
    assert '<p class="error" role="alert">' in missing.text
    wrong = browser.delete(server.url + "/console/", allow_redirects=False, timeout=30)
    assert wrong.status_code == 405 and "GET" in wrong.headers["Allow"]
    assert_security_headers(wrong)


def test_database_down_is_an_html_503(make_server):
    down = make_server(database_url="host=127.0.0.1 port=1 dbname=x user=x password=hunter2 connect_timeout=1")
    response = get(down, requests.Session(), "/console/", cookies={COOKIE: "x" * 43})
    assert response.status_code == 503 and response.headers["Content-Type"].startswith("text/html")
    assert "the database is unavailable" in response.text and "hunter2" not in response.text
    assert response.headers["Retry-After"] == "5"
    assert_security_headers(response)
    css = get(down, requests.Session(), "/console/style.css")  # the error page is styled all the same
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")


def test_overview_says_when_the_next_sync_is_due(make_server):
    server = make_server(patch_sync_enabled=True, sync_token="t", sync_interval="1h", leader=False)
    session, _ = console_login(server)
    server.sql("""INSERT INTO sync_runs (started_at, finished_at, result, patches_added, bytes)
                  VALUES (now() - interval '31 minutes', now() - interval '30 minutes', 'success', 1, 10)""")
    html = get(server, session, "/console/").text
    assert re.search(r'<span id="sync-next">Next run due <time datetime="[^"]+" title="[^"]+">in (29|30) min</time>',
                     html), html
    server.sql("UPDATE sync_runs SET finished_at = now() - interval '3 hours'")
    html = get(server, session, "/console/").text
    assert "The next run is overdue" in html
