"""tests/fakecontracts.py: the fake Ubuntu Pro contracts server speaks the attach and
resource endpoints of real-charms-facts.md section 4, records requests, and can fail
or hang."""

import json
import time
import urllib.error
import urllib.request

import pytest

from fakecontracts import ATTACH_PATH, FakeContracts


def call(url, method="GET", token=None, body=None, timeout=5):
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode()
                                 if body is not None else None)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), dict(e.headers)


@pytest.fixture
def contracts():
    with FakeContracts() as server:
        server.add_contract_token("good-token")
        server.add_contract_token("no-livepatch", resources=())
        server.forbid("forbidden-token")
        yield server


def resource_url(contracts, machine_id, resource="livepatch-onprem"):
    return "%s/v1/resources/%s/context/machines/%s" % (contracts.url, resource, machine_id)


def test_attach_and_resource(contracts):
    status, body, _ = call(contracts.url + ATTACH_PATH, "POST", "good-token",
                           {"machineId": "m-1", "architecture": "amd64"})
    assert status == 200
    assert sorted(body) == ["activityInfo", "availableResources", "machineToken",
                            "machineTokenInfo", "resourceTokens"]
    info = body["machineTokenInfo"]
    assert info["machineId"] == "m-1"
    assert sorted(e["type"] for e in info["contractInfo"]["resourceEntitlements"]) == [
        "esm-apps", "esm-infra", "fips", "livepatch", "usg"]
    assert {t["type"] for t in body["resourceTokens"]} == {
        e["type"] for e in info["contractInfo"]["resourceEntitlements"]}
    machine = contracts.machine(body["machineToken"])
    assert (machine.machine_id, machine.contract_token) == ("m-1", "good-token")
    status, got, headers = call(resource_url(contracts, "m-1"), token=body["machineToken"])
    assert status == 200 and "Expires" in headers
    assert got["resourceToken"] == contracts.resource_token_for(body["machineToken"])
    again = call(resource_url(contracts, "m-1"), token=body["machineToken"])[1]
    assert again["resourceToken"] == got["resourceToken"]       # stable per machine
    attach, = contracts.requests_to("attach")
    assert attach.headers["authorization"] == "Bearer good-token"
    assert attach.json["machineId"] == "m-1" and attach.status == 200
    assert [r.status for r in contracts.requests_to("resource")] == [200, 200]


def test_refusals(contracts):
    assert call(contracts.url + ATTACH_PATH, "POST", "unknown", {})[0] == 401
    assert call(contracts.url + ATTACH_PATH, "POST", "forbidden-token", {})[0] == 403
    token = call(contracts.url + ATTACH_PATH, "POST", "good-token", {"machineId": "m-2"})[1][
        "machineToken"]
    assert call(resource_url(contracts, "m-2"), token="not-a-machine-token")[0] == 401
    assert call(resource_url(contracts, "other-machine"), token=token)[0] == 403
    assert call(resource_url(contracts, "m-2", "esm-infra"), token=token)[0] == 403
    other = call(contracts.url + ATTACH_PATH, "POST", "no-livepatch", {"machineId": "m-3"})[1]
    assert call(resource_url(contracts, "m-3"), token=other["machineToken"])[0] == 403
    contracts.forbid("good-token")
    assert call(resource_url(contracts, "m-2"), token=token)[0] == 403
    assert call(contracts.url + "/v1/nothing")[0] == 404


def test_fail_and_hang(contracts):
    contracts.fail("attach", 500, times=1)
    assert call(contracts.url + ATTACH_PATH, "POST", "good-token", {})[0] == 500
    assert call(contracts.url + ATTACH_PATH, "POST", "good-token", {})[0] == 200
    contracts.hang("resource")
    started = time.monotonic()
    with pytest.raises(OSError):        # the client's timeout: the server holds it
        call(resource_url(contracts, "x"), token="t", timeout=0.5)
    assert time.monotonic() - started >= 0.5
    contracts.release()
    assert call(resource_url(contracts, "x"), token="t")[0] == 401
    assert contracts.requests_to("resource")[0].status in (0, 503)
