"""GET /v1/api/kernels/supported: public, answers from the patch catalogue."""

PATCHES = [
    "livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2",
    "livepatch-5.15.0-110.120-generic-110.1-amd64.tar.bz2",
    "livepatch-5.4.0-150.167-generic-150.1-amd64.tar.bz2",
    "livepatch-6.8.0-31.31-aws-31.1-arm64.tar.bz2",
    "livepatch-6.8.0-35.35-aws-35.1-arm64.tar.bz2",   # blocked below
]


def add_patches(server):
    for filename in PATCHES:
        r = server.admin("PUT", f"/v1/admin/patches/{filename}", data=filename.encode())
        assert r.status_code == 201, r.text
    assert server.admin("POST", f"/v1/admin/patches/{PATCHES[-1]}/block").status_code == 200


def supported(server, kernel, flavour="generic", arch="amd64", **extra):
    params = {"kernel-version": kernel, "flavour": flavour, "architecture": arch, "codename": "jammy", **extra}
    r = server.request("GET", "/v1/api/kernels/supported", params=params)
    assert r.status_code == 200, r.text
    return r.json()["Supported"]


def test_answers(server):
    add_patches(server)
    cases = [
        # The Pro client sends the series only.
        ("5.15", "generic", "amd64", "supported"),
        ("5.4", "generic", "x86_64", "supported"),
        ("5.19", "generic", "amd64", "unsupported"),
        ("5.15.0", "generic", "amd64", "supported"),
        ("5.15.1", "generic", "amd64", "unsupported"),
        ("5.15.0-107", "generic", "amd64", "supported"),
        ("5.15.0-107.117", "generic", "amd64", "supported"),
        ("5.15.0-107.117-generic", "generic", "amd64", "supported"),
        ("5.15.0-107.116", "generic", "amd64", "kernel-upgrade-required"),
        ("5.15.0-108", "generic", "amd64", "kernel-upgrade-required"),
        ("5.15.0-100.1", "generic", "amd64", "kernel-upgrade-required"),
        ("5.15.0-111", "generic", "amd64", "unsupported"),
        ("5.15.0-110.121", "generic", "amd64", "unsupported"),
        ("6.8", "aws", "aarch64", "supported"),
        ("6.8.0-31.31", "aws", "arm64", "supported"),
        # Only a blocked patch covers it: not supported, and no newer one exists.
        ("6.8.0-35.35", "aws", "arm64", "unsupported"),
        # Nothing known for the flavour or arch, or input not understood.
        ("5.15", "lowlatency", "amd64", "unknown"),
        ("5.15", "generic", "s390x", "unknown"),
        ("5.15", "generic", "sparc", "unknown"),
        ("five", "generic", "amd64", "unknown"),
        ("5.15.0-107.117-lowlatency", "generic", "amd64", "unknown"),
        ("5", "generic", "amd64", "unknown"),
        ("5.15\n0", "generic", "amd64", "unknown"),
    ]
    for kernel, flavour, arch, expected in cases:
        assert supported(server, kernel, flavour, arch) == expected, (kernel, flavour, arch)
    # build-date is accepted (the Pro client sends it) and changes nothing.
    assert supported(server, "5.15", **{"build-date": "unknown"}) == "supported"


def test_public_but_needs_its_parameters(server):
    # No credentials: the Pro client asks before any token exists.
    assert supported(server, "5.15") == "unknown"
    for missing in ("kernel-version", "flavour", "architecture"):
        params = {"kernel-version": "5.15", "flavour": "generic", "architecture": "amd64"}
        params[missing] = ""
        r = server.request("GET", "/v1/api/kernels/supported", params=params)
        assert r.status_code == 400 and r.json()["code"] == "missing-query", missing
        del params[missing]
        r = server.request("GET", "/v1/api/kernels/supported", params=params)
        assert r.status_code == 400 and r.json()["code"] == "missing-query", missing
