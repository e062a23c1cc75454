"""`python -m livepatch_app`: serve, schema upgrade|check|version, storage adopt, dev."""

import json
import sys

import click

from .config import ConfigError, load_config
from .db import DatabaseUnavailable


def _fail(message, code=1):
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _load(config_path, overrides=None):
    try:
        return load_config(config_path, overrides=overrides)
    except ConfigError as exc:
        _fail(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Livepatch on-prem server."""


@main.command()
@click.option("--config", "config_path", type=click.Path(), help="YAML config file (keys: the charm's options).")
def serve(config_path):
    """Serve the API under waitress."""
    from .logs import setup_logging
    from .serve import serve as run

    config = _load(config_path)
    if not config.database_url:
        _fail("invalid database_url: not set (config file or LIVEPATCH_DATABASE_URL)")
    setup_logging(config.log_level)
    try:
        run(config)
    except OSError as exc:
        _fail(f"cannot listen on {config.bind_address}:{config.port}: {exc.strerror}")


@main.group()
def schema():
    """Database schema migrations."""


def _database(database, config_path):
    if database:
        return database
    config = _load(config_path)
    if not config.database_url:
        _fail("no database: pass --database or set database_url / LIVEPATCH_DATABASE_URL")
    return config.database_url


_db_option = click.option("--database", envvar=None, help="libpq connection string or URL.")
_config_option = click.option("--config", "config_path", type=click.Path(), help="read database_url from this file.")


def _schema_call(action, database, config_path):
    """Runs schema.<action>(dsn); an unreachable database is one line, exit 1."""
    from . import schema as schema_mod

    dsn = _database(database, config_path)
    try:
        return getattr(schema_mod, action)(dsn)
    except DatabaseUnavailable as exc:
        _fail(f"database unavailable: {exc}")


@schema.command()
@_db_option
@_config_option
def upgrade(database, config_path):
    """Apply pending migrations (safe to run from several units at once)."""
    applied = _schema_call("upgrade", database, config_path)
    status = _schema_call("status", database, config_path)
    click.echo(json.dumps({"applied": applied, **status.as_dict()}))


@schema.command()
@_db_option
@_config_option
def check(database, config_path):
    """Exit 0 when the schema is current, 2 when an upgrade is pending."""
    status = _schema_call("status", database, config_path)
    if status.upgrade_required:
        click.echo(f"schema upgrade required: {status.current} -> {status.required}")
        sys.exit(2)
    if status.ahead:
        _fail(f"the database schema ({status.current}) is newer than this server ({status.required})")
    click.echo(f"schema is current ({status.current})")


@schema.command()
@_db_option
@_config_option
def version(database, config_path):
    """Print {"current", "required", "upgrade-required"} as JSON."""
    click.echo(json.dumps(_schema_call("status", database, config_path).as_dict()))


@main.group()
def storage():
    """The patch store."""


@storage.command()
@click.option("--config", "config_path", type=click.Path(), required=True,
              help="the config whose patchstore / filestore_path to move onto.")
@click.option("--legacy-folder", "legacy_folders", multiple=True, type=click.Path(),
              help="a folder of patch files under their own names (the legacy /livepatch/) to import.")
@click.option("--from-folder", "from_folders", multiple=True, type=click.Path(),
              help="a filesystem store folder the patches' bytes may be in now.")
def adopt(config_path, legacy_folders, from_folders):
    """Bring every patch onto the configured store (sha256 checked); JSON out, exit 1
    when a patch could not be moved, 2 when the schema is not current."""
    from .db import Database
    from .storage import make_store
    from .storage.adopt import adopt as run

    config = _load(config_path)
    if not config.database_url:
        _fail("invalid database_url: not set (config file or LIVEPATCH_DATABASE_URL)")
    status = _schema_call("status", None, config_path)
    if status.current != status.required:
        _fail(f"the database schema is {status.current}, this server needs {status.required}: "
              "upgrade the schema first", 2)
    db = Database(config.database_url, max_connections=2)
    try:
        result = run(db, make_store(config, db), legacy_folders, from_folders)
    except DatabaseUnavailable as exc:
        _fail(f"database unavailable: {exc}")
    finally:
        db.close()
    click.echo(json.dumps(result))
    if result["failed"]:
        sys.exit(1)


@main.command()
@click.option("--config", "config_path", type=click.Path(), help="optional YAML config file.")
@click.option("--state-dir", default=".livepatch", show_default=True, help="embedded PostgreSQL and dev state.")
def dev(config_path, state_dir):
    """Development server: embedded PostgreSQL, migrations, an admin user, 127.0.0.1:8080."""
    from .devserver import run_dev

    run_dev(config_path, state_dir)
