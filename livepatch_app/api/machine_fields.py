"""What the client protocol says a machine id and a patch state are: shared by the
client endpoints and the admin machine endpoints (and their filters)."""

import re

MACHINE_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # used with fullmatch
PATCH_STATES = ("applied", "apply-failed", "unapplied", "needs-check", "nothing-to-apply", "unknown",
                "check-failed", "applied-with-bug", "kernel-upgrade-required")
