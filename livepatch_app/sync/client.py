"""HTTP client for an upstream patch server (our own protocol, api.md
"Server-to-server sync"). Every failure becomes an UpstreamError whose message
says what went wrong in words an operator can act on, and never holds the token."""

import json
import os
import re
from urllib.parse import urljoin

import requests
import urllib3

from .. import __version__
from .proxies import proxies_for

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 30  # as requests
_REASON_BYTES = 64 * 1024  # of an error answer's body, for its reason


class UpstreamError(Exception):
    """`fatal` errors end the run (the upstream or our token is unusable);
    the others concern one patch file, and the run goes on with the next."""

    def __init__(self, message, fatal=True):
        super().__init__(message)
        self.message = message
        self.fatal = fatal


def _upstream_reason(response):
    """The upstream's own error sentence, when it sent our JSON error shape."""
    try:
        body = response.json()
    except ValueError:
        return ""
    return _reason_of(body)


def _reason_of(body):
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        code = body.get("code")
        return f": {body['error'][:300]}" + (f" ({code})" if isinstance(code, str) else "")
    return ""


class UpstreamClient:
    def __init__(self, base_url, token, http_proxy="", https_proxy="", no_proxy="",
                 timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)):
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._proxy = (http_proxy, https_proxy, no_proxy)
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"livepatch-onprem/{__version__} (sync)"
        # The environment's proxies and CA bundle are read once, here: requests reads them
        # (and stats ~/.netrc) at every request otherwise, a third of a download's CPU.
        # A .netrc entry is never used: it would replace the sync token.
        self.session.trust_env = False
        self._environ_proxies = requests.utils.get_environ_proxies(self.base_url)
        self._verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self._managers = {}  # proxy URL or None (direct) -> urllib3 pool manager, for downloads

    def close(self):
        self.session.close()
        for manager in self._managers.values():
            manager.clear()

    def _clean(self, text):
        return text.replace(self._token, "***") if self._token else text

    def _proxies(self):
        return proxies_for(self.base_url, *self._proxy) or self._environ_proxies

    def _request(self, method, path, what, fatal=True, **kwargs):
        url = self.base_url + path
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            response = self.session.request(method, url, headers=headers, timeout=self.timeout,
                                            proxies=self._proxies(),
                                            verify=self._verify, allow_redirects=True, **kwargs)
        except requests.exceptions.ProxyError:
            raise UpstreamError(f"{what}: the proxy refused or could not reach {self.base_url}") from None
        except requests.exceptions.SSLError as exc:
            raise UpstreamError(self._clean(f"{what}: TLS error talking to {self.base_url}: {exc.__class__.__name__}")) from None
        except requests.exceptions.Timeout:
            raise UpstreamError(f"{what}: upstream {self.base_url} did not answer within "
                                f"{self.timeout[1]:.0f} s (timeout)", fatal) from None
        except requests.exceptions.ConnectionError:
            raise UpstreamError(f"{what}: cannot reach upstream {self.base_url} "
                                f"(connection refused, reset or name not resolved)", fatal) from None
        except requests.exceptions.RequestException as exc:
            raise UpstreamError(self._clean(f"{what}: request to {self.base_url} failed: "
                                            f"{exc.__class__.__name__}")) from None
        self._check_status(response.status_code, lambda: _upstream_reason(response), response.close,
                           path, what, fatal)
        return response

    def _check_status(self, status, reason_of, close, path, what, fatal):
        """Raises the UpstreamError of an error status (after `close()`ing the answer)."""
        if status < 400:
            return
        reason = self._clean(reason_of())
        close()
        if status == 401:
            raise UpstreamError(f"{what}: upstream rejected the sync token (401){reason}; "
                                f"it may be expired, revoked or mistyped: set a valid sync_token")
        if status == 403:
            raise UpstreamError(f"{what}: upstream refused access (403){reason}")
        hint = ""
        if status == 404 and path == "/v1/sync/snapshot":
            hint = f"; is {self.base_url} a livepatch on-prem server with this sync protocol?"
        raise UpstreamError(f"{what}: upstream answered HTTP {status}{reason}{hint}", fatal)

    def snapshot(self, flavours=(), architectures=(), minimum_kernel_version=""):
        """-> {"patches": [...], "blocklist": {filename: reason}}, shape-checked."""
        params = {}
        if flavours:
            params["flavours"] = ",".join(flavours)
        if architectures:
            params["architectures"] = ",".join(architectures)
        if minimum_kernel_version:
            params["minimum-kernel-version"] = minimum_kernel_version
        what = "fetching the snapshot"
        response = self._request("GET", "/v1/sync/snapshot", what, params=params)
        try:
            body = response.json()
        except ValueError:
            raise UpstreamError(f"{what}: upstream {self.base_url} did not answer JSON "
                                f"(is sync_upstream the address of a livepatch server?)") from None
        return parse_snapshot(body, what)

    def download(self, filename):
        """The streamed answer for one patch file (a urllib3 HTTPResponse: read(n) gives
        decoded bytes); the caller hands it back to release(). Plain urllib3, not requests:
        requests' per-request work (hooks, cookies, header merging, redirect and proxy
        resolution) cost more CPU than the rest of a 100 KB download. Same behaviour as
        _request: proxies, TLS verification and CA bundle, timeouts, redirects (the token
        dropped when the host changes, as requests does), the same error messages."""
        path, what = f"/v1/patches/{filename}", f"downloading {filename}"
        url = self.base_url + path
        headers = dict(self._download_headers, Authorization=f"Bearer {self._token}")
        for _ in range(MAX_REDIRECTS + 1):
            response = self._urlopen(url, headers, what)
            location = response.get_redirect_location() if response.status in _REDIRECTS else None
            if not location:
                break
            self.release(response)
            target = urljoin(url, location)
            if self.session.should_strip_auth(url, target):
                headers.pop("Authorization", None)
            url = target
        else:
            self.release(response)
            raise UpstreamError(f"{what}: request to {self.base_url} failed: TooManyRedirects")
        self._check_status(response.status, lambda: _reason_from_bytes(response), lambda: self.release(response),
                           path, what, fatal=False)
        return response

    @staticmethod
    def release(response):
        """A download's answer back to its pool: its connection kept when the body was read
        to the end (`closed`), closed otherwise (it may still carry unread bytes)."""
        if not response.closed:
            response.close()
        response.release_conn()

    @property
    def _download_headers(self):
        """What requests sends by default, with our User-Agent."""
        return {"User-Agent": self.session.headers["User-Agent"], "Accept-Encoding": "gzip, deflate",
                "Accept": "*/*"}

    def _manager(self, url):
        proxy = requests.utils.select_proxy(url, self._proxies())
        manager = self._managers.get(proxy)
        if manager is None:
            verify = {"cert_reqs": "CERT_NONE"}
            if self._verify:
                bundle = requests.utils.DEFAULT_CA_BUNDLE_PATH if self._verify is True else self._verify
                verify = {"cert_reqs": "CERT_REQUIRED",
                          "ca_cert_dir" if os.path.isdir(bundle) else "ca_certs": bundle}
            if proxy is None:
                manager = urllib3.PoolManager(num_pools=4, maxsize=1, **verify)
            else:
                user, password = requests.utils.get_auth_from_url(proxy)  # as requests: from the proxy's URL
                auth = urllib3.util.make_headers(proxy_basic_auth=f"{user}:{password}") if user else {}
                manager = urllib3.ProxyManager(proxy, num_pools=4, maxsize=1, proxy_headers=auth, **verify)
            self._managers[proxy] = manager
        return manager

    def _urlopen(self, url, headers, what):
        """One GET without following redirects -> the unread answer; a failure to get
        one -> the UpstreamError _request raises for it (a timeout or an unreachable
        upstream concern this file only; proxy, TLS and other failures end the run)."""
        try:
            return self._manager(url).urlopen(
                "GET", url, headers=headers, redirect=False, retries=False, preload_content=False,
                decode_content=True, timeout=urllib3.Timeout(connect=self.timeout[0], read=self.timeout[1]))
        except urllib3.exceptions.ProxyError:
            raise UpstreamError(f"{what}: the proxy refused or could not reach {self.base_url}") from None
        except urllib3.exceptions.SSLError as exc:
            raise UpstreamError(self._clean(f"{what}: TLS error talking to {self.base_url}: "
                                            f"{exc.__class__.__name__}")) from None
        except (urllib3.exceptions.ProxySchemeUnknown, urllib3.exceptions.LocationParseError, ValueError) as exc:
            raise UpstreamError(self._clean(f"{what}: request to {self.base_url} failed: "
                                            f"{exc.__class__.__name__}")) from None
        except urllib3.exceptions.NewConnectionError:  # a subclass of ConnectTimeoutError, yet refused
            raise UpstreamError(f"{what}: cannot reach upstream {self.base_url} "
                                f"(connection refused, reset or name not resolved)", False) from None
        except urllib3.exceptions.TimeoutError:
            raise UpstreamError(f"{what}: upstream {self.base_url} did not answer within "
                                f"{self.timeout[1]:.0f} s (timeout)", False) from None
        except (urllib3.exceptions.HTTPError, OSError):
            raise UpstreamError(f"{what}: cannot reach upstream {self.base_url} "
                                f"(connection refused, reset or name not resolved)", False) from None

    def report(self, deployment_id, machine_count, exact):
        what = "sending the machine count"
        response = self._request("POST", "/v1/sync/report", what, fatal=False,
                                 json={"deployment-id": deployment_id, "machine-count": machine_count,
                                       "exact": exact})
        response.close()


def _reason_from_bytes(response):
    try:
        return _reason_of(json.loads(response.read(_REASON_BYTES)))
    except (ValueError, urllib3.exceptions.HTTPError, OSError):
        return ""


def parse_snapshot(body, what):
    def bad(detail):
        return UpstreamError(f"{what}: the upstream's snapshot is malformed ({detail})")

    if not isinstance(body, dict) or not isinstance(body.get("patches"), list):
        raise bad("no 'patches' list")
    patches = []
    for entry in body["patches"]:
        if not isinstance(entry, dict):
            raise bad("a patch entry is not an object")
        filename, sha256, size = entry.get("filename"), entry.get("sha256"), entry.get("size")
        if not isinstance(filename, str) or not filename:
            raise bad("a patch entry has no filename")
        if not isinstance(sha256, str) or not _SHA256_RE.match(sha256.strip().lower()):
            raise bad(f"{filename[:255]!r} has no valid sha256")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise bad(f"{filename[:255]!r} has no valid size")
        patches.append({"filename": filename, "sha256": sha256.strip().lower(), "size": size})
    blocklist = {}
    for entry in body.get("blocklist") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str) \
                or not 0 < len(entry["filename"]) <= 255:
            raise bad("a blocklist entry has no valid filename")
        reason = entry.get("reason")
        blocklist[entry["filename"]] = reason if isinstance(reason, str) else ""
    return {"patches": patches, "blocklist": blocklist}
