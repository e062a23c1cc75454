"""This machine's Ubuntu Pro attachment, as the Pro client leaves it on disk.

The ubuntu-advantage (ubuntu-pro) subordinate attaches every machine it runs on
with the Pro client (`ubuntu-advantage attach`); it publishes nothing over any
relation (real-charms-facts §2). What the attach leaves behind
(real-charms-facts §3):

* ``/var/lib/ubuntu-advantage/private/machine-token.json`` (root only, 0600):
  the attach API's answer; ``machineToken`` is the bearer for later contract
  calls and ``machineTokenInfo.machineId`` the machine id. The file has content
  exactly while the machine is attached (it is deleted on detach).
* ``/etc/ubuntu-advantage/uaclient.conf`` (YAML): ``contract_url``, the
  contracts server the machine is attached to (the subordinate writes its own
  ``contract_url`` option there).

Nothing here logs or returns the machine token in a message.
"""

import json
from collections import namedtuple

import yaml

MACHINE_TOKEN_FILE = "/var/lib/ubuntu-advantage/private/machine-token.json"
CLIENT_CONFIG_FILE = "/etc/ubuntu-advantage/uaclient.conf"


class ProStateError(RuntimeError):
    """The Pro client's files exist but cannot be used; str() is safe to show."""


class Attachment(namedtuple("Attachment", "machine_token machine_id contract_url")):
    """machine_token is a secret; contract_url is None when uaclient.conf sets none."""

    def __repr__(self):
        return f"Attachment(machine_id={self.machine_id!r}, contract_url={self.contract_url!r})"


def _read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except PermissionError:
        raise ProStateError(f"cannot read {path}: permission denied (it is readable by root only)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProStateError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc.__class__.__name__}") from None


def contract_url(path=None):
    """``contract_url`` from the Pro client's config, or None when it sets none."""
    path = path or CLIENT_CONFIG_FILE
    text = _read(path)
    if not text:
        return None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ProStateError(f"{path} is not valid YAML") from None
    url = data.get("contract_url") if isinstance(data, dict) else None
    return url.strip().rstrip("/") if isinstance(url, str) and url.strip() else None


def attachment(token_file=None, config_file=None):
    """The machine's attachment, or None when the machine is not attached.

    Raises ProStateError when the files are there but unreadable or malformed.
    """
    token_file = token_file or MACHINE_TOKEN_FILE
    text = _read(token_file)
    if not text or not text.strip():
        return None  # the Pro client's own test: attached while the file has content
    broken = f"{token_file} is not a machine token the Pro client wrote"
    try:
        data = json.loads(text)
    except ValueError:
        raise ProStateError(f"{broken} (not JSON)") from None
    if not isinstance(data, dict):
        raise ProStateError(f"{broken} (not a JSON object)")
    token = data.get("machineToken")
    info = data.get("machineTokenInfo")
    machine_id = info.get("machineId") if isinstance(info, dict) else None
    if not isinstance(token, str) or not token:
        raise ProStateError(f"{broken} (no machineToken)")
    if not isinstance(machine_id, str) or not machine_id:
        raise ProStateError(f"{broken} (no machineTokenInfo.machineId)")
    return Attachment(token, machine_id, contract_url(config_file))
