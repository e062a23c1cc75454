"""HTTP to the admin API: one requests.Session, and every failure turned into one
CLIError sentence (the server's `error` and `code`, or why it could not be reached)."""

import http.client
import re
from urllib.parse import quote

import requests

from .errors import AUTH, UNREACHABLE, USAGE, CLIError

CONNECT_TIMEOUT = 10


def segment(value):
    """A path segment, quoted so that a name can never change the path."""
    return quote(str(value), safe="")


class APIClient:
    """`auth` is a callable giving the Authorization header value (called per request,
    so a command that needs no session, like login, never asks for one)."""

    def __init__(self, url, verify=True, timeout=30.0, auth=None, on_expired=None):
        self.url = url
        self.timeout = timeout
        self.auth = auth
        self.on_expired = on_expired
        # Passed on every request: a Session-level `verify` loses to REQUESTS_CA_BUNDLE.
        self.verify = verify
        self.session = requests.Session()
        self.session.trust_env = True  # honours HTTPS_PROXY/NO_PROXY like curl
        self.session.headers["User-Agent"] = "livepatch-admin"

    def call(self, method, path, *, json=None, params=None, data=None, headers=None,
             read_timeout=None, authorization=None, what=None):
        """-> (status, parsed JSON body or None). Raises CLIError on any failure."""
        headers = dict(headers or {})
        stored = authorization is None and self.auth is not None
        if stored:
            authorization = self.auth()
        if authorization:
            headers["Authorization"] = authorization
        if params:
            params = {key: value for key, value in params.items() if value is not None}
        timeout = (CONNECT_TIMEOUT, read_timeout or self.timeout)
        try:
            response = self.session.request(method, self.url + path, json=json, params=params, data=data,
                                            headers=headers, timeout=timeout, verify=self.verify,
                                            allow_redirects=False)
        except requests.exceptions.RequestException as exc:
            raise self._unreachable(exc, timeout[1], what) from None
        if response.status_code >= 300:
            raise self._refused(response, authorization, what, stored)
        body = _json_or_none(response)
        if body is None and response.content:
            raise CLIError(f"{what + ': ' if what else ''}the server at {self.url} did not answer JSON: "
                           "is that the Livepatch server's address?")
        return response.status_code, body

    # -- failures ---------------------------------------------------------------------------

    def _unreachable(self, exc, read_timeout, what):
        prefix = f"{what}: " if what else ""
        if isinstance(exc, requests.exceptions.SSLError):
            return CLIError(f"{prefix}TLS error talking to {self.url}: {_ssl_reason(exc)} "
                            "(pass --ca FILE or set LIVEPATCH_CA_CRT to trust your CA)", UNREACHABLE)
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return CLIError(f"{prefix}cannot reach the server at {self.url}: "
                            f"no connection within {CONNECT_TIMEOUT} s", UNREACHABLE)
        if isinstance(exc, requests.exceptions.Timeout):
            return CLIError(f"{prefix}the server at {self.url} did not answer within {read_timeout:g} s "
                            "(raise it with --timeout)", UNREACHABLE)
        if isinstance(exc, requests.exceptions.ConnectionError):
            if _closed_by_server(exc):
                return CLIError(f"{prefix}the server at {self.url} closed the connection before answering",
                                UNREACHABLE)
            return CLIError(f"{prefix}cannot reach the server at {self.url}: {_os_reason(exc)}", UNREACHABLE)
        if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                            requests.exceptions.InvalidSchema)):
            return CLIError(f"invalid server URL {self.url!r}: use http://HOST[:PORT] or https://HOST[:PORT]",
                            USAGE)
        return CLIError(f"{prefix}request to {self.url} failed: {exc.__class__.__name__}", UNREACHABLE)

    def _refused(self, response, authorization, what, stored=False):
        body = _json_or_none(response)
        error = code = None
        if isinstance(body, dict):
            error, code = body.get("error"), body.get("code")
        prefix = f"{what}: " if what else ""
        status = response.status_code
        if status == 401:
            if authorization and authorization.startswith("Bearer "):
                if stored and self.on_expired:  # the saved session is dead: drop it
                    self.on_expired()
                return CLIError(f"{prefix}your session on {self.url} has expired or was revoked: log in again "
                                "with `livepatch-admin login -a USER:PASSWORD`", AUTH)
            return CLIError(f"{prefix}{error or 'authentication failed'} ({code or 'unauthorized'}, HTTP 401)", AUTH)
        if 300 <= status < 400:
            return CLIError(f"{prefix}the server answered a redirect (HTTP {status}) to "
                            f"{response.headers.get('Location', '?')}: point --url/LIVEPATCH_URL there", USAGE)
        if error:
            return CLIError(f"{prefix}{_one_line(error)} ({code or 'error'}, HTTP {status})")
        # Not our JSON: a proxy (haproxy 503 page) or waitress's own refusal (413).
        text = _one_line(response.text)[:200] if "json" not in response.headers.get("Content-Type", "") else ""
        if text and "<" not in text:  # a short plain-text reason, not an HTML page
            return CLIError(f"{prefix}the server answered HTTP {status}: {text}")
        return CLIError(f"{prefix}the server answered HTTP {status} {response.reason or ''}".rstrip())


def _json_or_none(response):
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _one_line(text):
    return " ".join(str(text).split())


def _chain(exc):
    """The exception, its args and causes: requests wraps urllib3 wraps OSError."""
    seen, todo = [], [exc]
    while todo:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or any(item is s for s in seen):
            continue
        seen.append(item)
        todo.extend(item.args)
        todo.extend([getattr(item, "reason", None), item.__cause__, item.__context__])
    return seen


def _os_reason(exc):
    for item in _chain(exc):
        if isinstance(item, OSError) and item.strerror and not isinstance(item, requests.RequestException):
            return item.strerror[0].lower() + item.strerror[1:]
    match = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
    if match:
        return match.group(1).strip().lower()
    return "connection failed"


def _closed_by_server(exc):
    """Connected, then cut off (reset, broken pipe mid-upload, closed without an answer)."""
    return any(isinstance(item, (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected))
               for item in _chain(exc))


def _ssl_reason(exc):
    import ssl

    for item in _chain(exc):
        if isinstance(item, ssl.SSLError):
            text = item.reason or str(item)
            verify = getattr(item, "verify_message", None)
            if verify:
                return f"certificate verify failed: {verify}"
            return re.sub(r"\s*\(_ssl\.c:\d+\)", "", text).replace("_", " ").lower()
    match = re.search(r"(certificate verify failed: [^(']+)", str(exc))
    return match.group(1).strip() if match else "the TLS handshake failed"
