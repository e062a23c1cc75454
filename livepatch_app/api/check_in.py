"""What a check-in is, apart from how the request reached it: the report a body
holds, the kernel a patch is looked up for, and the answer's list of offers. The
client blueprint's view and the check-in lane (check_in_lane.py) both use it, so
the two agree by construction."""

import functools
import re

from ..errors import BadRequest
from ..patchname import ARCHITECTURES, InvalidName, parse_kernel
from .common import field
from .machine_fields import PATCH_STATES

# `uname -m` names -> Debian architecture names, which patch file names use.
ARCH_ALIASES = {"x86_64": "amd64", "aarch64": "arm64", "ppc64le": "ppc64el", "armv7l": "armhf",
                "i686": "i386", "i586": "i386"}
# Free-text report fields: (JSON key, column, max length, pattern or None).
_KERNEL_TEXT_RE = re.compile(r"[A-Za-z0-9._+~-]+")
_VERSION_TEXT_RE = re.compile(r"[A-Za-z0-9._+~:-]*")
_TEXT_FIELDS = (
    ("kernel", "kernel", 128, _KERNEL_TEXT_RE),
    ("patch-version", "patch_version", 64, _VERSION_TEXT_RE),
    ("client-version", "client_version", 64, _VERSION_TEXT_RE),
    ("boot-time", "boot_time", 64, None),
    ("cpu-model", "cpu_model", 256, None),
)


def parse_report(body):
    """The report columns of a check-in body; BadRequest names a bad field. Optional
    fields may be null (clients send null for what they do not know)."""
    report = {}
    for key, column, max_len, pattern in _TEXT_FIELDS:
        value = field(body, key, required=(key == "kernel"), allow_none=(key != "kernel"))
        if value is not None:
            value = value.strip()
            if len(value) > max_len or (pattern and not pattern.fullmatch(value)):
                raise BadRequest(f"'{key}' must be at most {max_len} characters"
                                 + (" of letters, digits and . _ + ~ : -" if pattern else ""), "invalid-field")
        report[column] = value or None
    # Case matters (as in the OpenAPI document): clients send uname -m or Debian names.
    arch = field(body, "architecture", required=True).strip()
    arch = ARCH_ALIASES.get(arch, arch)
    if arch not in ARCHITECTURES:
        raise BadRequest(f"unknown architecture {arch!r}: expected one of {', '.join(ARCHITECTURES)}",
                         "invalid-architecture")
    report["architecture"] = arch
    state = (field(body, "patch-state", allow_none=True) or "").strip() or None
    if state is not None and state not in PATCH_STATES:
        raise BadRequest(f"'patch-state' must be one of {', '.join(PATCH_STATES)}", "invalid-patch-state")
    report["patch_state"] = state
    uptime = field(body, "uptime", kind=int, allow_none=True)
    if uptime is not None and not 0 <= uptime < 2**63:
        raise BadRequest("'uptime' must be a non-negative number of seconds", "invalid-field")
    report["uptime"] = uptime
    return report


def offer_kernel(report):
    """(kernel, flavour) that patches are looked up for; (None, None) for a kernel that
    is not a version signature (a custom build), which is offered nothing."""
    return _offer_kernel(report["kernel"])


@functools.lru_cache(maxsize=1024)  # a fleet runs few kernels, and every check-in names one
def _offer_kernel(text):
    try:
        kernel = parse_kernel(text)
    except InvalidName:
        return None, None
    return kernel.kernel, kernel.flavour


def offers(row, url_template, host_url):
    """The check-in row's offered patch as the answer's list (empty: nothing to apply).
    Its URL follows url_template, else this server's own download path at host_url
    (the request's scheme://host/)."""
    if row["filename"] is None:
        return []
    filename = row["filename"]
    url = url_template.replace("{filename}", filename) if url_template else host_url + "v1/patches/" + filename
    return [{"version": row["version"], "filename": filename, "url": url,
             "sha256": row["sha256"].strip(), "size": row["size"], "kernel": row["kernel"]}]
