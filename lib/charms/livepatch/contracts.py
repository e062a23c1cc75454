"""Ubuntu Pro contracts: get the livepatch-onprem resource token (real-charms-facts §4).

From a contract token, in two steps, as the on-prem server's own charms do
(:func:`get_resource_token`):

1. ``POST {url}/v1/context/machines/token`` with ``Authorization: Bearer
   <contract token>`` and a machine description (machine id
   ``livepatch-onprem``, host type ``container``) -> ``machineToken``.
2. ``GET {url}/v1/resources/livepatch-onprem/context/machines/livepatch-onprem``
   with ``Authorization: Bearer <machine token>`` -> ``resourceToken``.

From a machine already attached by the Pro client (the legacy flow, where the
ubuntu-advantage subordinate attached the machine; see pro.py), step 2 alone
with that machine's token and id (:func:`get_resource_token_for_machine`).

Failures raise ContractError with a sentence naming the cause and what to do
(bad token, not entitled and why, other HTTP status, unreachable, timeout). No
message ever contains a token. Only the standard library is used.
"""

import json
import platform
import socket
import ssl
import urllib.error
import urllib.request
from urllib.parse import quote, urlsplit

RESOURCE = "livepatch-onprem"
MACHINE_ID = "livepatch-onprem"
TIMEOUT = 60  # seconds per request; the contracts service can be slow

_STEP_MACHINE = "exchanging the contract token for a machine token"
_STEP_RESOURCE = "fetching the livepatch-onprem resource token"
# What to fix when the bearer of a step is rejected (HTTP 401).
FIX_CONTRACT_TOKEN = "check the Ubuntu Pro contract token"
FIX_ATTACHMENT = (
    "re-attach the machine with a valid Ubuntu Pro token (juju config ubuntu-advantage token=<token>), "
    "or pass contract-token=<token>"
)
# Where the proxies the requests go through are set (see proxies()).
PROXY_HINT = (
    "check the proxy settings: livepatch's http_proxy, https_proxy and no_proxy options "
    "(when all are empty, the model's proxy settings that Juju hands to the charm)"
)
JUJU_PROXY_ENV = {"http": "JUJU_CHARM_HTTP_PROXY", "https": "JUJU_CHARM_HTTPS_PROXY", "no": "JUJU_CHARM_NO_PROXY"}


class ContractError(RuntimeError):
    """The exchange failed; str() is safe to show to the operator."""


def os_release(path="/etc/os-release"):
    values = {}
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                key, sep, value = line.strip().partition("=")
                if sep:
                    values[key] = value.strip().strip('"')
    except OSError:
        pass
    return values


def machine_info(release=None):
    """The machine description the contracts service expects in step 1."""
    release = os_release() if release is None else release
    return {
        "architecture": platform.machine(),
        "hostType": "container",
        "machineId": MACHINE_ID,
        "os": {
            "distribution": release.get("VERSION", ""),
            "kernel": platform.release(),
            "release": release.get("VERSION_ID", ""),
            "series": release.get("VERSION_CODENAME", ""),
            "type": "Linux",
        },
    }


def proxies(options, environ):
    """The proxies for contracts requests: the charm's options, else the model's.

    options: validated charm options (http_proxy, https_proxy, no_proxy). When
    all three are empty, Juju's JUJU_CHARM_HTTP_PROXY, JUJU_CHARM_HTTPS_PROXY
    and JUJU_CHARM_NO_PROXY (set in every hook and action: reactive-facts §9;
    the Pro subordinate uses the same ones: real-charms-facts §2).
    """
    own = {"http": options.get("http_proxy") or "", "https": options.get("https_proxy") or "",
           "no": options.get("no_proxy") or ""}
    if any(own.values()):
        return own
    return {key: environ.get(name, "") for key, name in JUJU_PROXY_ENV.items()}


def tls_context(ca=""):
    """TLS verification for contracts calls: the system's CAs, plus the contracts_ca
    option's PEM certificates (an on-site contracts server with a private CA; the
    newer charms' contracts.ca, livepatch-facts section 2)."""
    context = ssl.create_default_context()
    if ca:
        context.load_verify_locations(cadata=ca)
    return context


def _opener(url, proxies, ca=""):
    """urllib opener honouring the charm's proxy options (and no_proxy) and contracts_ca."""
    handlers = [urllib.request.HTTPSHandler(context=tls_context(ca))]
    proxies = {k: v for k, v in (proxies or {}).items() if v}
    if not proxies:
        return urllib.request.build_opener(*handlers)  # the environment's proxies, if any
    host = urlsplit(url).hostname or ""
    no_proxy = proxies.pop("no", "")
    if no_proxy and urllib.request.proxy_bypass_environment(host, {"no": no_proxy}):
        return urllib.request.build_opener(urllib.request.ProxyHandler({}), *handlers)
    return urllib.request.build_opener(urllib.request.ProxyHandler(proxies), *handlers)


def shown(url):
    """The URL as messages and results show it: without any user:password@."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _scrub(text, secrets):
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _reason(body):
    try:
        data = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    info = data.get("info") if isinstance(data.get("info"), dict) else {}
    return str(info.get("reason") or data.get("message") or data.get("code") or "")[:200]


def _call(opener, request, step, server, timeout, secrets, fix_401):
    try:
        with opener.open(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        reason = _scrub(_reason(exc.read() or b""), secrets)
        if exc.code == 401:
            raise ContractError(
                f"the contract server {server} rejected the token (HTTP 401) while {step}: {fix_401}"
            ) from None
        if exc.code == 403:
            raise ContractError(
                f"the contract server {server} refused (HTTP 403: {reason or 'no reason given'}) "
                f"while {step}: the contract is not entitled to Livepatch on-prem"
            ) from None
        detail = f": {reason}" if reason else ""
        raise ContractError(f"the contract server {server} answered HTTP {exc.code} while {step}{detail}") from None
    except (socket.timeout, TimeoutError):
        raise ContractError(
            f"the contract server {server} did not answer within {timeout}s while {step}: {PROXY_HINT}"
        ) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (socket.timeout, TimeoutError)):
            raise ContractError(
                f"the contract server {server} did not answer within {timeout}s while {step}: {PROXY_HINT}"
            ) from None
        why = getattr(exc.reason, "strerror", None) or str(exc.reason)
        raise ContractError(f"cannot reach the contract server {server} ({_scrub(why, secrets)}): {PROXY_HINT}") from None
    except OSError as exc:
        raise ContractError(f"cannot reach the contract server {server} ({exc.strerror or exc}): {PROXY_HINT}") from None
    try:
        data = json.loads(body.decode("utf-8"))
    except ValueError:
        raise ContractError(f"the contract server {server} sent no JSON while {step}") from None
    if not isinstance(data, dict):
        raise ContractError(f"the contract server {server} sent unexpected JSON while {step}")
    return data


def get_resource_token(contract_token, url, proxies=None, timeout=TIMEOUT, release=None, ca=""):
    """Contract token -> machine token -> livepatch-onprem resource token."""
    if not contract_token:
        raise ContractError("no contract token given")
    url = url.rstrip("/")
    opener = _opener(url, proxies, ca)
    secrets = [contract_token]

    request = urllib.request.Request(
        f"{url}/v1/context/machines/token",
        data=json.dumps(machine_info(release)).encode("utf-8"),
        method="POST",
        headers={
            "Authorization": f"Bearer {contract_token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
    )
    answer = _call(opener, request, _STEP_MACHINE, shown(url), timeout, secrets, FIX_CONTRACT_TOKEN)
    machine_token = answer.get("machineToken")
    if not machine_token or not isinstance(machine_token, str):
        raise ContractError(f"the contract server {shown(url)} sent no machineToken while {_STEP_MACHINE}")
    secrets.append(machine_token)
    return _resource_token(opener, url, machine_token, MACHINE_ID, timeout, secrets, FIX_CONTRACT_TOKEN)


def get_resource_token_for_machine(machine_token, machine_id, url, proxies=None, timeout=TIMEOUT, ca=""):
    """An attached machine's token and id -> livepatch-onprem resource token (one GET)."""
    if not machine_token or not machine_id:
        raise ContractError("no machine token or machine id given")
    url = url.rstrip("/")
    opener = _opener(url, proxies, ca)
    return _resource_token(opener, url, machine_token, machine_id, timeout, [machine_token], FIX_ATTACHMENT)


def _resource_token(opener, url, machine_token, machine_id, timeout, secrets, fix_401):
    request = urllib.request.Request(
        f"{url}/v1/resources/{RESOURCE}/context/machines/{quote(machine_id, safe='')}",
        method="GET",
        headers={"Authorization": f"Bearer {machine_token}", "Accept": "application/json"},
    )
    answer = _call(opener, request, _STEP_RESOURCE, shown(url), timeout, secrets, fix_401)
    resource_token = answer.get("resourceToken")
    if not resource_token or not isinstance(resource_token, str):
        raise ContractError(f"the contract server {shown(url)} sent no resourceToken while {_STEP_RESOURCE}")
    return resource_token
