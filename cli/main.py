"""Entry point: `m4d [--hub DIR | --kube-context CTX] COMMAND`.

Bad input ends in one message naming the file, document, field or system at fault and a non-zero exit,
never in a traceback. A traceback means a bug: it is printed only with `-v`, and otherwise the message
says so and how to see it.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
import traceback

import click

from m4d import __version__
from m4d.cli.context import CliContext
from m4d.cli.signals import verbose_requested
from m4d.cluster.connect import Target
from m4d.errors import M4DError

# Each entry is a module with a `COMMANDS` list of click commands or groups. Modules import their heavy
# dependencies inside the command functions, so `m4d --help` stays fast.
COMMANDS = (
    "m4d.cli.resources",
    "m4d.cli.watching",
    "m4d.cli.refresh",
    "m4d.cli.module",
    "m4d.cli.explain",
    "m4d.cli.hub",
    "m4d.cli.member",
    "m4d.cli.gitops",
    "m4d.cli.cluster",
    "m4d.cli.demo",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option(
    "--hub",
    "hub_dir",
    envvar="M4D_HUB",
    default=".m4d",
    show_default=True,
    metavar="DIR",
    help="Directory of the embedded hub store.",
)
@click.option(
    "--kube-context",
    envvar="M4D_KUBE_CONTEXT",
    default=None,
    metavar="CTX",
    help="Use this kubeconfig context (a real hub cluster) instead of the embedded hub.",
)
@click.option(
    "--in-cluster",
    envvar="M4D_IN_CLUSTER",
    is_flag=True,
    help="The hub is the cluster this runs in (a pod's service account: how the hub's Deployment runs).",
)
@click.option("-v", "--verbose", "_verbose", is_flag=True, help="Show a traceback for internal errors (bugs).")
@click.version_option(__version__, prog_name="m4d")
@click.pass_context
def cli(ctx: click.Context, hub_dir: str, kube_context: str | None, in_cluster: bool, _verbose: bool) -> None:
    """Mesh for Data: governed data access for applications, delivered to clusters through GitOps."""
    state = CliContext(target=Target.from_env(hub_dir, kube_context, in_cluster))
    ctx.obj = state
    ctx.call_on_close(state.close)


@cli.command()
def version() -> None:
    """The m4d version, and the Python it runs on."""
    click.echo(f"m4d {__version__} (Python {platform.python_version()}, {sys.executable})")


for _name in COMMANDS:
    for _command in importlib.import_module(_name).COMMANDS:
        cli.add_command(_command)


# Exit status of an internal error (sysexits' EX_SOFTWARE), apart from bad input's 1 and usage's 2.
INTERNAL_ERROR = 70


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except M4DError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        # The reader went away (`m4d crds | head`): nothing more to say, and nowhere to say it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
    except OSError as exc:  # a file or directory named on the command line that cannot be used
        where = f": {exc.filename}" if exc.filename else ""
        click.secho(f"error: {exc.strerror or exc}{where}", fg="red", err=True)
        sys.exit(1)
    except Exception as exc:
        if verbose_requested(sys.argv[1:]):
            traceback.print_exc()
        hint = "" if verbose_requested(sys.argv[1:]) else "; run again with -v to see where"
        click.secho(f"internal error (a bug): {type(exc).__name__}: {exc}{hint}", fg="red", err=True)
        sys.exit(INTERNAL_ERROR)
