"""Patch file names and kernel strings: parsed anchored at both ends."""

import pytest

from livepatch_app.patchname import InvalidName, parse_kernel, parse_patch_name, version_key


def test_parses_a_plain_name():
    name = parse_patch_name("livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2")
    assert (name.kernel_base, name.abi, name.build) == ("5.15.0", 107, 117)
    assert name.kernel == "5.15.0-107.117"
    assert name.flavour == "generic"
    assert (name.version_major, name.version_minor, name.version) == (107, 1, "107.1")
    assert name.architecture == "amd64"


@pytest.mark.parametrize("flavour", ["aws-fips", "azure-fips", "gcp-fips", "ibm-gt", "ibm-gt-tdx", "generic-64k"])
def test_flavours_may_contain_dashes(flavour):
    name = parse_patch_name(f"livepatch-6.8.0-45.45-{flavour}-3.12-arm64.tar.bz2")
    assert name.flavour == flavour
    assert name.version == "3.12" and name.architecture == "arm64" and name.kernel == "6.8.0-45.45"


def test_versions_compare_as_numbers():
    a = parse_patch_name("livepatch-5.4.0-1.1-generic-9.1-s390x.tar.bz2")
    b = parse_patch_name("livepatch-5.4.0-1.1-generic-10.1-s390x.tar.bz2")
    assert (b.version_major, b.version_minor) > (a.version_major, a.version_minor)


@pytest.mark.parametrize("bad", [
    "",
    "livepatch.tar.bz2",
    "../livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2",
    "a/livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2",
    "livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2/..",
    "livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2\x00",
    "livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2\n",
    "..",
    "livepatch-5.15.0-107.117-generic-107.1-x86.tar.bz2",        # unknown architecture
    "livepatch-5.15.0-107.117-Generic-107.1-amd64.tar.bz2",      # upper case
    "livepatch-5.15.0-107-generic-107.1-amd64.tar.bz2",          # no build number
    "livepatch-5.15-107.117-generic-107.1-amd64.tar.bz2",        # two-part kernel
    "livepatch-5.15.0-107.117-generic-107-amd64.tar.bz2",        # version without minor
    "livepatch-5.15.0-107.117--107.1-amd64.tar.bz2",             # empty flavour
    "livepatch-5.15.0-107.117-generic-107.1-amd64.tar.gz",
    "livepatch-5.15.0-107.117-gen_eric-107.1-amd64.tar.bz2",
    "livepatch-5.15.0-107.117-" + "a" * 300 + "-107.1-amd64.tar.bz2",
    "livepatch-5.15.0-107.117-generic-\u0661\u0660\u0667.1-amd64.tar.bz2",  # Arabic-Indic digits
    "livepatch-5.15.0-1234567890.117-generic-107.1-amd64.tar.bz2",  # past a PostgreSQL integer
    "livepatch-5.15.1234567890-107.117-generic-107.1-amd64.tar.bz2",
    "livepatch-5.15.0-107.117-generic-107.9999999999-amd64.tar.bz2",
    None,
])
def test_rejects_what_is_not_a_patch_name(bad):
    with pytest.raises(InvalidName):
        parse_patch_name(bad)


def test_parse_kernel_signature():
    release = parse_kernel("5.15.0-107.117-aws-fips")
    assert release.kernel == "5.15.0-107.117" and release.flavour == "aws-fips" and release.abi == 107
    for bad in ("5.15.0-107.117", "5.15.0-107-generic", "", None, "5.15.0-107.117-generic/x",
                "5.15.0-\u0661.117-generic", "5.15.0-" + "1" * 5000 + ".117-generic"):
        with pytest.raises(InvalidName):
            parse_kernel(bad)


def test_version_key_orders_numerically():
    assert version_key("5.15.0") > version_key("5.4.0")
    assert sorted(["6.8.0", "5.15.0", "5.4.0"], key=version_key) == ["5.4.0", "5.15.0", "6.8.0"]
