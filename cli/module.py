"""`m4d module flight|copy --config FILE`: run a data-plane module (the agent starts these)."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

import click

from m4d.cli.params import PORT


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@click.group()
def module() -> None:
    """Run a data-plane module from its configuration (as the member agent writes it)."""
    from m4d.modules.forkserver.instance import claim_from_environment  # noqa: PLC0415

    # Started by an agent for an instance directory: hold its lock for life, so the instance never runs twice
    # and a restarted agent finds this process.
    claim_from_environment()


@module.command()
@click.option("--config", "config_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--ready-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the endpoint (JSON) here once listening; removed on exit.",
)
@click.option("--host", default=None, help="Override the configured address to listen on (in a pod: its IP).")
@click.option("--port", type=PORT, default=None, help="Override the configured port (0: a free one).")
@click.option("-v", "--verbose", is_flag=True)
def flight(config_file: Path, ready_file: Path | None, host: str | None, port: int | None, verbose: bool) -> None:
    """Serve the configured assets over Arrow Flight until stopped (SIGTERM or Ctrl-C)."""
    from m4d.modules.config import ModuleConfig  # noqa: PLC0415 - keep `m4d --help` fast
    from m4d.modules.flight.run import serve  # noqa: PLC0415

    _logging(verbose)
    config = ModuleConfig.load(config_file)
    listen = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if listen:
        config = config.model_copy(update={"listen": config.listen.model_copy(update=listen)})
    with contextlib.suppress(KeyboardInterrupt):
        serve(config, ready_file, config_file=config_file, port=port)


@module.command()
@click.option("--config", "config_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--status-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Keep progress figures (JSON) here while copying.",
)
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when stderr is a terminal).")
@click.option("-v", "--verbose", is_flag=True)
def copy(config_file: Path, status_file: Path | None, progress: bool | None, verbose: bool) -> None:
    """Copy the configured asset into its sink, applying its transforms; resumes after a crash."""
    from m4d.credentials import open_store  # noqa: PLC0415
    from m4d.modules.config import ModuleConfig  # noqa: PLC0415
    from m4d.modules.copy import CopyJob, Reporter  # noqa: PLC0415

    _logging(verbose)
    config = ModuleConfig.load(config_file)
    show = sys.stderr.isatty() if progress is None else progress
    credentials = open_store(config.credentials) if config.credentials is not None else None
    with Reporter(status_file, show) as reporter:
        status = CopyJob(config, credentials, reporter).run()
    click.echo(status.summary())


COMMANDS = [module]
