"""The database schema, through the server's own CLI in the charm's virtualenv.

`python -m livepatch_app schema version|upgrade --config FILE` reads the
connection string from the rendered config, so the password never appears on a
command line.
"""

import json
from collections import namedtuple

from . import paths
from .system import CommandFailed, run


class SchemaUnavailable(RuntimeError):
    """The schema state could not be read or changed (database down, bad answer)."""


class SchemaState(namedtuple("SchemaState", "current required")):
    @property
    def upgrade_required(self):
        return self.current < self.required

    @property
    def empty(self):
        return self.current == 0

    @property
    def ahead(self):
        return self.current > self.required


def _schema(command, python=None, config_file=paths.CONFIG_FILE, timeout=300):
    argv = [python or paths.venv_python(), "-m", "livepatch_app", "schema", command, "--config", config_file]
    try:
        out = run(argv, timeout=timeout)
    except CommandFailed as exc:
        detail = str(exc).split(": ", 1)[-1]
        raise SchemaUnavailable(detail[len("error: "):] if detail.startswith("error: ") else detail) from None
    try:
        data = json.loads(out.strip().splitlines()[-1])
        return SchemaState(int(data["current"]), int(data["required"]))
    except (ValueError, KeyError, IndexError, TypeError):
        raise SchemaUnavailable(f"schema {command} printed no version JSON") from None


def version(python=None, config_file=paths.CONFIG_FILE):
    return _schema("version", python, config_file, timeout=60)


def upgrade(python=None, config_file=paths.CONFIG_FILE):
    """Apply pending migrations (the server takes an advisory lock); the new state."""
    return _schema("upgrade", python, config_file)
