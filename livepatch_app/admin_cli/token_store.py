"""Session tokens on disk, one per server URL, readable by the user alone.

The file is $XDG_CONFIG_HOME/livepatch-admin/sessions.json (or
~/.config/livepatch-admin/sessions.json): {"servers": {url: {"token", "user",
"expires"}}}. It is written whole to a 0600 temporary file and renamed over the
old one, so a crash never leaves a half-written or world-readable token.
"""

import json
import os
import tempfile
from pathlib import Path

from .errors import USAGE, CLIError

FILE_NAME = "sessions.json"


def config_dir(environ=None):
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CONFIG_HOME", "")
    if not os.path.isabs(base):  # the XDG spec: a relative value is ignored
        base = os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "livepatch-admin"


class TokenStore:
    def __init__(self, folder=None):
        self.folder = Path(folder) if folder else config_dir()
        self.path = self.folder / FILE_NAME

    def _read(self):
        try:
            with open(self.path, encoding="utf-8") as handle:
                if os.fstat(handle.fileno()).st_mode & 0o077:  # loosened by hand: tighten it again
                    os.fchmod(handle.fileno(), 0o600)
                data = json.load(handle)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise CLIError(f"cannot read the session file {self.path}: {_why(exc)}; delete it and log in again",
                           USAGE) from None
        servers = data.get("servers") if isinstance(data, dict) else None
        return servers if isinstance(servers, dict) else {}

    def _write(self, servers):
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(prefix=".sessions-", dir=self.folder)  # mkstemp creates it 0600
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump({"servers": servers}, handle, indent=2, sort_keys=True)
                os.chmod(tmp, 0o600)
                os.replace(tmp, self.path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise CLIError(f"cannot write the session file {self.path}: {_why(exc)}", USAGE) from None

    def get(self, url):
        entry = self._read().get(url)
        if isinstance(entry, dict) and isinstance(entry.get("token"), str) and entry["token"]:
            return entry
        return None

    def put(self, url, token, user, expires):
        servers = self._read()
        servers[url] = {"token": token, "user": user, "expires": expires}
        self._write(servers)

    def forget(self, url):
        """Drops the server's token; True when there was one."""
        servers = self._read()
        if url not in servers:
            return False
        del servers[url]
        self._write(servers)
        return True


def _why(exc):
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else exc.__class__.__name__
