"""JSON bodies are bounded before they are parsed: at most 64 KiB (else 413
`body-too-large`) and at most 32 levels of arrays and objects (else 400
`json-too-deep`), so no body can make the parser recurse until it fails."""

import json

from livetest import ADMIN_PASSWORD, ADMIN_USER

from livepatch_app.json_input import MAX_BYTES, MAX_DEPTH

MACHINE = "0123456789abcdef0123456789abcdef"
KIB = 1024


def _auth_token(server):
    r = server.admin("POST", "/v1/admin/auth-token", json={"id": "fleet", "tier": "edge"})
    assert r.status_code == 200, r.text
    return r.json()["token"]


def _nested(depth):
    return ("[" * depth + "]" * depth).encode()


def test_the_reviews_deep_array_is_refused_without_credentials(server):
    r = server.request("POST", "/api/machine-tokens", data=_nested(100_000),
                       headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "body-too-large", r.text


def test_too_deep_json_is_400_before_parsing(server):
    token = _auth_token(server)
    for depth in (MAX_DEPTH + 1, 1_000, 20_000):
        r = server.request("POST", "/api/machine-tokens", data=_nested(depth),
                           headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 400 and r.json()["code"] == "json-too-deep", (depth, r.text)
    deep = '{"tier": ' + "[" * 40 + "]" * 40 + "}"
    r = server.admin("POST", "/v1/admin/patches/107.1/promote", data=deep)
    assert r.status_code == 400 and r.json()["code"] == "json-too-deep"
    # Brackets inside strings are text, not nesting.
    r = server.admin("POST", "/v1/admin/patches/107.1/promote", json={"tier": "[{" * 1000})
    assert r.status_code == 404 and r.json()["code"] == "tier-not-found"
    # As deep as allowed is parsed (and then refused for what it says).
    body = '{"machine-id": ' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "}"
    r = server.request("POST", "/api/machine-tokens", data=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400 and r.json()["code"] == "invalid-field", r.text


def test_json_bodies_past_64_kib_are_413(server):
    assert MAX_BYTES == 64 * KIB
    token = _auth_token(server)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def body(size):
        text = json.dumps({"machine-id": MACHINE, "pad": ""})
        return text.replace('"pad": ""', '"pad": "' + "p" * (size - len(text)) + '"').encode()

    r = server.request("POST", "/api/machine-tokens", data=body(MAX_BYTES), headers=headers)
    assert r.status_code == 200, r.text
    r = server.request("POST", "/api/machine-tokens", data=body(MAX_BYTES + 1), headers=headers)
    assert r.status_code == 413 and r.json()["code"] == "body-too-large"

    # Without a Content-Length (chunked) too.
    def pieces():
        data = body(100 * KIB)
        for i in range(0, len(data), 8 * KIB):
            yield data[i:i + 8 * KIB]

    r = server.request("POST", "/v1/admin/tiers", data=pieces(), auth=(ADMIN_USER, ADMIN_PASSWORD))
    assert r.status_code == 413 and r.json()["code"] == "body-too-large"
    assert [t["name"] for t in server.admin("GET", "/v1/admin/tiers").json()["tiers"]] == [
        "edge", "beta", "candidate", "stable"]


def test_admin_bodies_refuse_unknown_fields_client_bodies_ignore_them(server):
    """docs/api.md, Conventions: a misspelt admin field is reported; a client's extra
    field (a newer client) is ignored."""
    for path, body in [("/v1/admin/auth-token", {"id": "fleet2", "tier": "edge", "max_machines": 3}),
                       ("/v1/admin/sync-tokens", {"name": "down", "tier": "edge", "valid_until": "x"}),
                       ("/v1/admin/sync/trigger", {"wiat": True})]:
        r = server.admin("POST", path, json=body)
        assert r.status_code == 400 and r.json()["code"] == "unknown-field", (path, r.text)
    token = _auth_token(server)
    r = server.request("POST", "/api/machine-tokens", json={"machine-id": MACHINE, "hostname": "web-1"},
                       headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    machine_token = r.json()["machine-token"]
    r = server.request("POST", f"/v1/client/{MACHINE}/updates", headers={"Authorization": f"Bearer {machine_token}"},
                       json={"kernel": "5.15.0-107.117-generic", "architecture": "amd64", "patch-version": None,
                             "new-field-of-a-newer-client": {"x": 1}})
    assert r.status_code == 200, r.text
    r = server.admin("POST", "/v1/admin/tiers", json={"name": "extra", "after": None})
    assert r.status_code == 400 and r.json()["code"] == "invalid-field", r.text
