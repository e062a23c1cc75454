"""The `livepatch-admin` entry point: global options, the command groups, and the one
place that turns every failure into a single `error: ...` line and an exit code."""

import os
import sys

import click

from .commands.auth_tokens import auth_token, auth_tokens
from .commands.machines import machine
from .commands.patches import patch
from .commands.reports import report
from .commands.session import login, logout
from .commands.storage import storage
from .commands.sync import sync, sync_tokens
from .commands.tiers import tier
from .errors import USAGE, CLIError
from .output import FORMATS
from .state import State

PROG = "livepatch-admin"


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--url", envvar="LIVEPATCH_URL", show_envvar=True, metavar="URL",
              help="The server (haproxy), e.g. http://livepatch.example:80.")
@click.option("--ca", envvar="LIVEPATCH_CA_CRT", show_envvar=True, metavar="FILE",
              help="CA certificate (PEM) to trust for https:// (the variable may also hold the PEM itself).")
@click.option("-a", "--auth", envvar="LIVEPATCH_AUTH", show_envvar=True, metavar="USER:PASSWORD",
              help="Use these credentials (HTTP Basic) on every call instead of the stored session: for scripts.")
@click.option("--format", "fmt", envvar="LIVEPATCH_FORMAT", show_envvar=True, type=click.Choice(FORMATS),
              default="table", show_default=True, help="Output for people (table) or scripts (json, yaml).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True, metavar="SECONDS",
              envvar="LIVEPATCH_TIMEOUT", show_envvar=True, help="How long to wait for an answer.")
@click.version_option(package_name="livepatch-app", prog_name=PROG)
@click.pass_context
def cli(ctx, url, ca, auth, fmt, timeout):
    """Administer a Livepatch on-prem server over its admin API.

    \b
    Example session:
      export LIVEPATCH_URL=http://haproxy.example
      livepatch-admin login -a admin:s3cret
      livepatch-admin patch upload livepatch-5.15.0-107.117-generic-107.1-amd64.tar.bz2
      livepatch-admin patch promote 107.1 stable
      livepatch-admin auth-token web-servers stable
      livepatch-admin report machines stable

    Exit codes: 0 done, 1 the server refused, 2 bad usage, 3 server unreachable
    (or TLS, timeout), 4 not logged in / session expired / wrong password.
    """
    ctx.obj = State(url=url, ca=ca, auth=auth, fmt=fmt, timeout=timeout)


for command in (login, logout, auth_token, auth_tokens, tier, patch, machine, report, sync, sync_tokens, storage):
    cli.add_command(command)


def _fail(message, code):
    click.echo(f"error: {' '.join(str(message).split())}", err=True)
    return code


def run(argv=None):
    """Runs the tool; returns the exit code (never raises, never prints a traceback)."""
    try:
        result = cli.main(args=argv, prog_name=PROG, standalone_mode=False)
        return result if isinstance(result, int) else 0
    except CLIError as exc:
        return _fail(exc.message, exc.exit_code)
    except click.exceptions.NoArgsIsHelpError as exc:  # `livepatch-admin tier`: show what it takes
        click.echo(exc.ctx.get_help(), err=True)
        return USAGE
    except click.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        return _fail(exc.format_message() + hint, exc.exit_code)
    except click.exceptions.Abort:
        return _fail("aborted", 130)
    except click.ClickException as exc:
        return _fail(exc.format_message(), exc.exit_code)
    except KeyboardInterrupt:
        click.echo(err=True)
        return _fail("interrupted", 130)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python's exit flush from complaining.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:  # the promise: one line, never a traceback
        return _fail(f"unexpected failure ({exc.__class__.__name__}): {exc}", 1)


def main(argv=None):
    sys.exit(run(argv))
