"""The web console (/console/) without a browser: every page needs a session (303 to the
login form), the login goes through the admin credential check and its throttle, the
session is a server-side admin session in a cookie with the right flags, logout revokes
it, every answer carries the security headers, output is escaped, and bad query
parameters get a 400 page, never a 500. (tests/e2e's browser tests check the pages in
a real browser, on branch console-browser.)"""

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
    # The same header from a peer that is not trusted counts for nothing.
    plain = make_server()
    _, response = console_login(plain, headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 303
    assert "secure" not in [p.strip().lower() for p in response.headers["Set-Cookie"].split(";")]


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/console/", "/v1/admin/tiers",
                                    "/console/../v1/admin/tiers", "javascript:alert(1)", "\\\\evil.example"])
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


def test_a_post_from_another_origin_is_refused(server, browser):
    _, response = console_login(server, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert "Set-Cookie" not in response.headers
    response = browser.post(server.url + "/console/logout", headers={"Origin": "https://evil.example"},
                            allow_redirects=False, timeout=30)
    assert response.status_code == 403
    assert get(server, browser, "/console/").status_code == 200  # not logged out
    own = browser.post(server.url + "/console/logout", headers={"Origin": server.url},
                       allow_redirects=False, timeout=30)
    assert own.status_code == 303


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
    for path in PAGES + ["/console/login", "/console/style.css", "/console/no-such-page"]:
        response = get(server, browser, path)
        assert_security_headers(response)
        if path != "/console/style.css":
            assert response.headers["Cache-Control"] == "no-store"
        assert "<script" not in response.text.lower()
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


@pytest.mark.parametrize("query", ["page=0", "page=abc", "page=-1", "page=99999999999", "sort=machine_id",
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
