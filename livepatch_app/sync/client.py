"""HTTP client for an upstream patch server (our own protocol, api.md
"Server-to-server sync"). Every failure becomes an UpstreamError whose message
says what went wrong in words an operator can act on, and never holds the token."""

import os
import re

import requests

from .. import __version__
from .proxies import proxies_for

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


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

    def close(self):
        self.session.close()

    def _clean(self, text):
        return text.replace(self._token, "***") if self._token else text

    def _request(self, method, path, what, fatal=True, **kwargs):
        url = self.base_url + path
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            response = self.session.request(method, url, headers=headers, timeout=self.timeout,
                                            proxies=proxies_for(url, *self._proxy) or self._environ_proxies,
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
        if response.status_code == 401:
            reason = self._clean(_upstream_reason(response))
            response.close()
            raise UpstreamError(f"{what}: upstream rejected the sync token (401){reason}; "
                                f"it may be expired, revoked or mistyped: set a valid sync_token")
        if response.status_code == 403:
            reason = self._clean(_upstream_reason(response))
            response.close()
            raise UpstreamError(f"{what}: upstream refused access (403){reason}")
        if response.status_code >= 400:
            reason = self._clean(_upstream_reason(response))
            response.close()
            hint = ""
            if response.status_code == 404 and path == "/v1/sync/snapshot":
                hint = f"; is {self.base_url} a livepatch on-prem server with this sync protocol?"
            raise UpstreamError(f"{what}: upstream answered HTTP {response.status_code}{reason}{hint}", fatal)
        return response

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
        """The streamed response for one patch file; the caller closes it."""
        response = self._request("GET", f"/v1/patches/{filename}", f"downloading {filename}",
                                 fatal=False, stream=True)
        response.raw.decode_content = True
        return response

    def report(self, deployment_id, machine_count, exact):
        what = "sending the machine count"
        response = self._request("POST", "/v1/sync/report", what, fatal=False,
                                 json={"deployment-id": deployment_id, "machine-count": machine_count,
                                       "exact": exact})
        response.close()


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
