"""Entry point: `m4d [--hub DIR | --kube-context CTX] COMMAND`."""

from __future__ import annotations

import importlib
import sys

import click

from m4d import __version__
from m4d.cli.context import CliContext
from m4d.cluster.connect import Target
from m4d.errors import M4DError

# Each entry is a module with a `COMMANDS` list of click commands or groups. Modules import their heavy
# dependencies inside the command functions, so `m4d --help` stays fast.
COMMANDS = (
    "m4d.cli.resources",
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
@click.version_option(__version__, prog_name="m4d")
@click.pass_context
def cli(ctx: click.Context, hub_dir: str, kube_context: str | None) -> None:
    """Mesh for Data: governed data access for applications, delivered to clusters through GitOps."""
    state = CliContext(target=Target.from_env(hub_dir, kube_context))
    ctx.obj = state
    ctx.call_on_close(state.close)


for _name in COMMANDS:
    for _command in importlib.import_module(_name).COMMANDS:
        cli.add_command(_command)


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
