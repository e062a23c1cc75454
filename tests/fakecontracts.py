"""A fake Ubuntu Pro contracts server for tests: a real HTTP server on 127.0.0.1.

It speaks the two endpoints of the contracts API that matter for Livepatch on-prem
(the facts about the real contracts API: the Pro client's uaclient/contract.py):

- attach: ``POST /v1/context/machines/token`` with ``Authorization: Bearer <contract
  token>`` and a JSON body (``machineId``...). A known contract token gets the attach
  response whose shape the Pro client stores in
  /var/lib/ubuntu-advantage/private/machine-token.json (section 3): ``machineToken``,
  ``machineTokenInfo{machineId, expires, accountInfo, contractInfo{...,
  resourceEntitlements[]}}``, ``resourceTokens[]``, ``activityInfo``,
  ``availableResources[]``. An unknown token gets 401, a token registered as
  forbidden 403.
- resource: ``GET /v1/resources/<resource>/context/machines/<machineId>`` with
  ``Authorization: Bearer <machineToken>``: ``{"resourceToken": ..., "entitlement":
  {...}}`` (and an HTTP ``Expires`` header) for a resource the contract grants
  (``livepatch-onprem`` by default); 401 for an unknown machine token, 403 for a
  resource the contract lacks, a forbidden contract, or (``strict_machine_id``, the
  default) a machine id other than the one the machine token was issued for. The
  machine id in the path is percent-decoded, as an HTTP server decodes a path
  segment (a client quotes ``a/b c`` as ``a%2Fb%20c``).

Usage::

    with FakeContracts() as contracts:            # or FakeContracts().start() ... stop()
        contracts.add_contract_token("C0ntr4ct")   # services, resources, forbidden=...
        contracts.add_contract_token("Blocked", forbidden=True)
        ... point the code under test at contracts.url ...
        attach, = contracts.requests_to("attach")
        attach.headers["authorization"], attach.json["machineId"], attach.status
        machine = contracts.machine("<machineToken>")      # .machine_id, .contract_token
        machine, = contracts.machines_for("C0ntr4ct")      # the machines a token attached
        contracts.resource_token_for(machine.machine_token)  # what GET answers
        contracts.revoke(machine.machine_token)    # 401 from now on (detached elsewhere)
        contracts.secrets()    # every token it knows or handed out: "no token leaked" checks

Faults: ``fail("attach"|"resource", status=500, body=None, times=None)`` answers
with that status (``times`` requests, or until ``clear_faults()``) and ``body``: a
JSON-able value is sent as JSON (default: an error object; with status 200, a body of
the wrong shape is a malformed answer), ``bytes`` are sent as they are, as
``text/html`` (garbage, e.g. a proxy's or captive portal's page);
``hang("attach"|"resource", seconds=None)`` holds requests without an answer until
``release()`` (or for ``seconds``), so clients run into their timeouts; ``stop()``
releases them. Every request is recorded in ``requests`` (``Request``: method, path,
headers with lower-case names, body, json, endpoint, status).

The machine tokens, resource tokens and ids are random per server (``secrets``);
nothing is copied from the real service.
"""

import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

ATTACH_PATH = "/v1/context/machines/token"
RESOURCE_RE = re.compile(r"^/v1/resources/([^/]+)/context/machines/([^/?]+)$")
LIVEPATCH_ONPREM = "livepatch-onprem"

# Pro client service -> enableByDefault (what `pro attach` turns on without a list)
DEFAULT_SERVICES = {"esm-apps": True, "esm-infra": True, "livepatch": True, "fips": False,
                    "usg": False}

DIRECTIVES = {
    "livepatch": {"caCerts": "", "remoteServer": "https://livepatch.canonical.com"},
    "esm-apps": {"aptURL": "https://esm.ubuntu.com/apps", "suites": ["jammy-apps-security",
                                                                     "jammy-apps-updates"]},
    "esm-infra": {"aptURL": "https://esm.ubuntu.com/infra",
                  "suites": ["jammy-infra-security", "jammy-infra-updates"]},
}


@dataclass
class Request:
    method: str
    path: str
    headers: dict
    body: bytes
    json: object
    endpoint: str          # "attach", "resource" or "" (anything else)
    status: int = 0        # what the server answered (0: no answer, e.g. a hang)
    time: float = 0.0


@dataclass
class Contract:
    token: str
    services: dict
    resources: tuple
    forbidden: bool = False
    contract_id: str = field(default_factory=lambda: "cAa" + secrets.token_hex(10))
    account_id: str = field(default_factory=lambda: "aAa" + secrets.token_hex(10))
    name: str = "Ubuntu Pro (test)"


@dataclass
class Machine:
    machine_token: str
    machine_id: str
    contract_token: str
    resource_tokens: dict = field(default_factory=dict)
    revoked: bool = False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeContracts:
    def __init__(self, host="127.0.0.1", port=0, strict_machine_id=True, tls=None):
        self.host = host
        self.port = port
        self.tls = tls  # (certificate file, key file): serve HTTPS (an on-site server, private CA)
        self.strict_machine_id = strict_machine_id
        self.contracts = {}
        self.machines = {}
        self.fixed_resource_tokens = {}
        self.requests = []
        self._faults = {}
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._server = None

    # --- life -------------------------------------------------------------
    def start(self):
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = _Server((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        if self.tls:
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return "%s://%s:%d" % ("https" if self.tls else "http", self.host, self.port)

    # --- what it knows ----------------------------------------------------
    def add_contract_token(self, token, services=None, resources=(LIVEPATCH_ONPREM,),
                           forbidden=False, name="Ubuntu Pro (test)"):
        """Registers a Pro contract token. services: {name: enableByDefault} (default
        DEFAULT_SERVICES), resources: what the resource endpoint grants."""
        contract = Contract(token=token, services=dict(services or DEFAULT_SERVICES),
                            resources=tuple(resources), forbidden=forbidden, name=name)
        with self._lock:
            self.contracts[token] = contract
        return contract

    def forbid(self, token, forbidden=True):
        """The token (registered or not) is answered 403 from now on."""
        with self._lock:
            if token not in self.contracts:
                self.contracts[token] = Contract(token=token, services={}, resources=())
            self.contracts[token].forbidden = forbidden

    def machine(self, machine_token):
        return self.machines.get(machine_token)

    def machines_for(self, contract_token):
        return [m for m in self.machines.values() if m.contract_token == contract_token]

    def revoke(self, machine_token):
        """The resource endpoint answers that machine token 401 from now on (the machine
        was detached, or re-attached and so given another token)."""
        with self._lock:
            self.machines[machine_token].revoked = True

    def secrets(self):
        """Every token this server knows or handed out (contract, machine and resource
        tokens): what no message, log or action output may contain."""
        with self._lock:
            found = set(self.contracts) | set(self.machines)
            found |= set(self.fixed_resource_tokens.values())
            for machine in self.machines.values():
                found |= set(machine.resource_tokens.values())
        return sorted(found)

    def hand_out(self, resource_token, resource=LIVEPATCH_ONPREM):
        """Every machine gets this resource token for `resource` from now on: the
        token a test's fake upstream accepts, as Canonical's accepts the real one."""
        with self._lock:
            self.fixed_resource_tokens[resource] = resource_token
            for machine in self.machines.values():
                machine.resource_tokens[resource] = resource_token

    def resource_token_for(self, machine_token, resource=LIVEPATCH_ONPREM):
        """The resource token the server hands that machine for `resource` (made on
        first use, then stable)."""
        with self._lock:
            m = self.machines[machine_token]
            if resource not in m.resource_tokens:
                m.resource_tokens[resource] = self.fixed_resource_tokens.get(
                    resource, "rt-" + secrets.token_urlsafe(24))
            return m.resource_tokens[resource]

    def requests_to(self, endpoint):
        return [r for r in list(self.requests) if r.endpoint == endpoint]

    # --- faults -----------------------------------------------------------
    def fail(self, endpoint, status=500, body=None, times=None):
        with self._lock:
            self._faults[endpoint] = {"status": status, "times": times,
                                      "body": body if body is not None else {
                                          "code": "internal-error",
                                          "message": "fake contracts failure %d" % status}}

    def hang(self, endpoint, seconds=None):
        with self._lock:
            self._released.clear()
            self._faults[endpoint] = {"hang": seconds, "times": None}

    def release(self):
        """Lets hung requests go (they then get a 503) and stops hanging."""
        with self._lock:
            self._faults = {k: v for k, v in self._faults.items() if "hang" not in v}
        self._released.set()

    def clear_faults(self):
        with self._lock:
            self._faults.clear()
        self._released.set()

    def _fault(self, endpoint):
        with self._lock:
            fault = self._faults.get(endpoint)
            if fault is None:
                return None
            if fault["times"] is not None:
                fault["times"] -= 1
                if fault["times"] <= 0:
                    del self._faults[endpoint]
            return dict(fault)

    # --- answers ----------------------------------------------------------
    def attach_response(self, contract, machine):
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 365 * 86400))
        entitlements, tokens, available = [], [], []
        for name, by_default in sorted(contract.services.items()):
            entitlements.append({
                "type": name, "entitled": True, "affordances": {"architectures": ["amd64"]},
                "obligations": {"enableByDefault": bool(by_default)},
                "directives": dict(DIRECTIVES.get(name, {})), "overrides": []})
            tokens.append({"type": name, "token": "svc-" + secrets.token_hex(12)})
            available.append({"name": name, "available": True,
                              "description": "%s (fake contracts server)" % name})
        return {
            "machineToken": machine.machine_token,
            "machineTokenInfo": {
                "machineId": machine.machine_id,
                "expires": expires,
                "accountInfo": {"id": contract.account_id, "name": "test account",
                                "createdAt": now, "type": "paid", "externalAccountIDs": []},
                "contractInfo": {
                    "id": contract.contract_id, "name": contract.name, "createdAt": now,
                    "createdBy": "", "effectiveFrom": now, "effectiveTo": expires,
                    "products": ["uai-essential-virtual"], "origin": "purchased",
                    "resourceEntitlements": entitlements, "specificResourceEntitlements": []},
            },
            "resourceTokens": tokens,
            "activityInfo": {"activityID": str(uuid.uuid4()),
                             "activityToken": "act-" + secrets.token_hex(12),
                             "activityPingInterval": 0, "resources": sorted(contract.services)},
            "availableResources": available,
        }


class _Handler(BaseHTTPRequestHandler):
    server_fake = None
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, req, status, body, headers=None):
        raw = isinstance(body, bytes)
        data = body if raw else json.dumps(body).encode()
        req.status = status
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/html" if raw else "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass   # the client gave up (e.g. its timeout during a hang)

    def _handle(self, method):
        fake = self.server_fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        path = self.path.split("?", 1)[0]
        endpoint = "attach" if path == ATTACH_PATH else (
            "resource" if RESOURCE_RE.match(path) else "")
        req = Request(method=method, path=self.path,
                      headers={k.lower(): v for k, v in self.headers.items()},
                      body=body, json=parsed, endpoint=endpoint, time=time.time())
        fake.requests.append(req)
        fault = fake._fault(endpoint) if endpoint else None
        if fault and "hang" in fault:
            fake._released.wait(fault["hang"])
            return self._answer(req, 503, {"code": "unavailable", "message": "released"})
        if fault:
            return self._answer(req, fault["status"], fault["body"])
        auth = req.headers.get("authorization", "")
        bearer = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        if endpoint == "attach" and method == "POST":
            return self._attach(req, bearer)
        if endpoint == "resource" and method == "GET":
            resource, machine_id = RESOURCE_RE.match(path).groups()
            return self._resource(req, bearer, unquote(resource), unquote(machine_id))
        return self._answer(req, 404, {"code": "not-found", "message": "no such endpoint"})

    def _attach(self, req, bearer):
        fake = self.server_fake
        contract = fake.contracts.get(bearer or "")
        if contract is None:
            return self._answer(req, 401, {"code": "unauthorized",
                                           "message": "invalid token"})
        if contract.forbidden:
            return self._answer(req, 403, {"code": "forbidden",
                                           "message": "contract token is not allowed to attach"})
        machine_id = (req.json or {}).get("machineId") if isinstance(req.json, dict) else None
        machine = Machine(machine_token="mt-" + secrets.token_urlsafe(32),
                          machine_id=machine_id or uuid.uuid4().hex, contract_token=bearer)
        with fake._lock:
            fake.machines[machine.machine_token] = machine
        return self._answer(req, 200, fake.attach_response(contract, machine))

    def _resource(self, req, bearer, resource, machine_id):
        fake = self.server_fake
        machine = fake.machines.get(bearer or "")
        if machine is None or machine.revoked:
            return self._answer(req, 401, {"code": "unauthorized",
                                           "message": "invalid machine token"})
        contract = fake.contracts.get(machine.contract_token)
        if contract is None or contract.forbidden:
            return self._answer(req, 403, {"code": "forbidden", "message": "contract revoked"})
        if fake.strict_machine_id and machine_id != machine.machine_id:
            return self._answer(req, 403, {"code": "forbidden",
                                           "message": "machine token is for another machine"})
        if resource not in contract.resources:
            return self._answer(req, 403, {"code": "forbidden",
                                           "message": "contract has no %s entitlement" % resource})
        token = fake.resource_token_for(machine.machine_token, resource)
        expires = formatdate(time.time() + 86400, usegmt=True)
        return self._answer(req, 200, {
            "resourceToken": token,
            "entitlement": {"type": resource, "entitled": True, "directives": {}}},
            headers={"Expires": expires})

    def do_POST(self):
        self._handle("POST")

    def do_GET(self):
        self._handle("GET")
