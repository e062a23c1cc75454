"""Patch file names: livepatch-<kernel>-<flavour>-<patchver>-<arch>.tar.bz2,
e.g. livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2. Parsed anchored at
both ends, so a flavour may itself contain dashes (aws-fips, ibm-gt-tdx)."""

import re
from dataclasses import dataclass

ARCHITECTURES = ("amd64", "arm64", "s390x", "ppc64el", "armhf", "i386", "riscv64")

# ASCII digits only (\d is any Unicode digit), and at most 9 in each number: the
# abi, build and version are PostgreSQL integers, and the kernel's X.Y.Z is sorted
# as int[] (a longer number failed the insert or every list). openapi/patches.yaml's PatchFilename says the same.
_NAME_RE = re.compile(
    r"^livepatch-"
    r"(?P<base>[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9})-(?P<abi>[0-9]{1,9})\.(?P<build>[0-9]{1,9})-"
    r"(?P<flavour>[a-z0-9]+(?:-[a-z0-9]+)*?)-"
    r"(?P<major>[0-9]{1,9})\.(?P<minor>[0-9]{1,9})-"
    r"(?P<arch>[a-z0-9]+)\.tar\.bz2$"
)
_KERNEL_RE = re.compile(
    r"^(?P<base>[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9})-(?P<abi>[0-9]{1,9})\.(?P<build>[0-9]{1,9})-(?P<flavour>[a-z0-9]+(?:-[a-z0-9]+)*)$")
MAX_NAME = 255


class InvalidName(ValueError):
    pass


@dataclass(frozen=True)
class PatchName:
    filename: str
    kernel_base: str   # 5.15.0
    abi: int           # 107
    build: int         # 117
    flavour: str       # generic
    version_major: int
    version_minor: int
    architecture: str

    @property
    def kernel(self):
        return f"{self.kernel_base}-{self.abi}.{self.build}"

    @property
    def version(self):
        return f"{self.version_major}.{self.version_minor}"


def parse_patch_name(filename):
    if not isinstance(filename, str) or len(filename) > MAX_NAME:
        raise InvalidName("the patch file name is too long")
    match = _NAME_RE.fullmatch(filename)  # fullmatch: "$" alone lets a trailing newline in
    if not match:
        raise InvalidName(
            "not a patch file name: expected livepatch-<X.Y.Z-ABI.BUILD>-<flavour>-<N.M>-<arch>.tar.bz2")
    if match["arch"] not in ARCHITECTURES:
        raise InvalidName(f"unknown architecture {match['arch']!r}")
    return PatchName(filename, match["base"], int(match["abi"]), int(match["build"]), match["flavour"],
                     int(match["major"]), int(match["minor"]), match["arch"])


@dataclass(frozen=True)
class KernelRelease:
    kernel_base: str
    abi: int
    build: int
    flavour: str

    @property
    def kernel(self):
        return f"{self.kernel_base}-{self.abi}.{self.build}"


def parse_kernel(text):
    """'5.15.0-107.117-generic' (the running kernel's version signature) -> KernelRelease."""
    match = _KERNEL_RE.fullmatch(text or "")
    if not match:
        raise InvalidName("kernel must look like 5.15.0-107.117-generic")
    return KernelRelease(match["base"], int(match["abi"]), int(match["build"]), match["flavour"])


def version_key(text):
    """'5.15.0' -> (5, 15, 0), for comparing kernel versions."""
    return tuple(int(part) for part in text.split("."))
