"""The web console (issue 14): the fleet's patch coverage in the browser, at /console/.

Server-rendered pages (templates/console/), read-only: the only requests that change
anything are the login and the logout. The login checks a user of auth_basic_users
through the same credential check and throttle as POST /v1/admin/login
(auth.check_credentials) and opens the same kind of server-side admin session
(auth.open_session: random token, stored hashed, expiring, revocable), carried in a
cookie that is HttpOnly, SameSite=Strict, Path=/console/, and Secure when the browser's
connection is TLS (directly, or per X-Forwarded-Proto from a trusted proxy). A POST
whose Origin is another origin is refused (403). Every page answers with a strict
Content-Security-Policy (no script at all, nothing from another origin), X-Frame-Options
DENY and Cache-Control no-store. The pages read through the data-access modules
(console_pages gathers what each shows); no SQL here."""

import functools
from importlib import resources
from urllib.parse import quote, unquote, urlsplit

from flask import Blueprint, g, make_response, redirect, render_template, request, send_file

from .. import console_pages, context
from ..auth import check_credentials, close_session, open_session, session_user
from ..client_address import request_scheme
from ..errors import TooManyAttempts, Unauthorized

bp = Blueprint("console", __name__)

PREFIX = "/console/"
COOKIE = "livepatch_console"
MAX_TOKEN = 128  # a session token is 43 characters; anything much longer is not one
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
STYLESHEET = "style.css"


def _is_console(path):
    return path == PREFIX.rstrip("/") or path.startswith(PREFIX)


@bp.after_app_request
def _security_headers(response):
    """On every answer under /console/ (errors and redirects too). An error the app
    answered in the API's JSON shape (unknown page, wrong method, bad text, database
    down, schema behind) becomes an HTML page with the same status and sentence."""
    if _is_console(request.path):
        if response.status_code >= 400 and response.mimetype == "application/json":
            response = _html_error(response)
        for name, value in SECURITY_HEADERS.items():
            response.headers[name] = value
        if request.endpoint != "console.stylesheet":
            response.headers["Cache-Control"] = "no-store"
            response.headers.pop("ETag", None)
    return response


def _html_error(response):
    body = response.get_json(silent=True) or {}
    page = _page("error.html", response.status_code, message=body.get("error") or "the request failed",
                 code=body.get("code"))
    for name in ("Retry-After", "Allow"):
        if name in response.headers:
            page.headers[name] = response.headers[name]
    return page


def _page(template, status=200, **values):
    response = make_response(render_template(f"console/{template}", user=g.get("console_user"), **values), status)
    response.mimetype = "text/html"
    return response


def _safe_next(value):
    """Where to go after the login: a path under /console/ of this server, else /console/."""
    if not value or len(value) > 2000 or "\\" in value or any(ord(c) < 0x20 for c in value):
        return PREFIX
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unbalanced [ in the host part
        return PREFIX
    # Browsers resolve "..", and "%2e%2e" too, before they follow a redirect.
    segments = unquote(parts.path).replace("\\", "/").split("/")
    if parts.scheme or parts.netloc or not parts.path.startswith(PREFIX) or {".", ".."} & set(segments):
        return PREFIX
    return value


def _this_url():
    query = request.query_string.decode("latin-1")
    return request.path + (f"?{query}" if query else "")


def _to_login():
    return redirect(f"{PREFIX}login?next={quote(_this_url(), safe='/')}", 303)


def _session_token():
    token = request.cookies.get(COOKIE)
    return token if token and len(token) <= MAX_TOKEN else None


def console_page(view):
    """A page that needs a console session: without a valid one, 303 to the login form
    (and the dead cookie is dropped). A cookie that names no live session is not counted
    by the login throttle, unlike an unknown Bearer token on the API: a browser sends its
    old cookie with every page after the session expired or was revoked, and the admin
    would be held back from logging in again; guessing a live 256-bit token is hopeless."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        token = _session_token()
        user = session_user(token) if token else None
        if user is None:
            response = _to_login()
            if token:
                response.delete_cookie(COOKIE, path=PREFIX)
            return response
        g.console_user = user
        try:
            return view(*args, **kwargs)
        except console_pages.BadQuery as exc:
            return _page("bad_request.html", 400, message=str(exc))

    return wrapper


def _cross_origin():
    """A POST sent by a page of another site (when the browser says: Origin). The
    origin's host (and port) must be the one the request was sent to; its scheme must
    be https when the request is known to have come over TLS. An https origin on a
    request seen as http is this server behind a proxy that terminates TLS without
    saying so (no trusted X-Forwarded-Proto): the same site, so it passes."""
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    try:
        parts = urlsplit(origin)
    except ValueError:  # e.g. an unbalanced [ in the host part: no origin of ours
        return True
    if parts.scheme not in ("http", "https") or parts.path or parts.query:
        return True  # "null" (an opaque origin) or no origin at all
    if request_scheme(request.environ) == "https" and parts.scheme != "https":
        return True
    default_port = {"http": ":80", "https": ":443"}[parts.scheme]
    return parts.netloc.lower().removesuffix(default_port) != request.host.lower().removesuffix(
        ":80").removesuffix(":443")


def _secure():
    return request_scheme(request.environ) == "https"


@bp.get("/console/style.css")
def stylesheet():
    path = resources.files("livepatch_app") / "templates" / "console" / STYLESHEET
    with resources.as_file(path) as file:
        response = send_file(file, mimetype="text/css", conditional=True, max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/console/login")
def login_form():
    return _page("login.html", next=_safe_next(request.args.get("next")))


@bp.post("/console/login")
def login():
    if _cross_origin():
        return _page("forbidden.html", 403)
    username = request.form.get("username", "")
    password = request.form.get("password", "")
    target = _safe_next(request.form.get("next"))
    if not username or not password or "\x00" in username + password:
        return _page("login.html", 401, next=target, username=username[:64],
                     error="Enter a user name and password of auth_basic_users.")
    try:
        user = check_credentials(username, password)
    except TooManyAttempts as exc:
        retry = exc.headers["Retry-After"]
        response = _page("login.html", 429, next=target, username=username[:64],
                         error=f"Too many failed attempts: try again in {retry} s.")
        response.headers["Retry-After"] = retry
        return response
    except Unauthorized:
        return _page("login.html", 401, next=target, username=username[:64],
                     error="Wrong user name or password.")
    previous = _session_token()
    if previous:  # the session this browser held ends: one live session per browser
        close_session(previous)
    token, expires = open_session(user)
    response = redirect(target, 303)
    response.set_cookie(COOKIE, token, expires=expires, path=PREFIX, secure=_secure(), httponly=True,
                        samesite="Strict")
    return response


@bp.post("/console/logout")
def logout():
    if _cross_origin():
        return _page("forbidden.html", 403)
    token = _session_token()
    if token:
        close_session(token)
    response = redirect(f"{PREFIX}login", 303)
    response.delete_cookie(COOKIE, path=PREFIX, secure=_secure(), httponly=True, samesite="Strict")
    return response


@bp.get("/console/")
@console_page
def overview():
    return _page("overview.html", current="overview", **console_pages.overview(context.config()))


@bp.get("/console/machines")
@console_page
def machines():
    return _page("machines.html", current="machines", **console_pages.machine_page(context.config(), request.args))


@bp.get("/console/patches")
@console_page
def patches():
    return _page("patches.html", current="patches", **console_pages.patch_page(request.args))


# The pages' formatting (console_pages), as Jinja filters.
for _name, _format in (("console_ago", console_pages.ago), ("console_time", console_pages.exact_time),
                       ("console_size", console_pages.size), ("console_number", console_pages.number),
                       ("console_duration", console_pages.duration)):
    bp.add_app_template_filter(_format, _name)
