"""`m4d demo` and `m4d down`: the whole flow on one machine, narrated, then governed data read over Flight."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import time
from pathlib import Path

import click
from rich.rule import Rule
from rich.table import Table

from m4d.cli.context import CliContext, pass_context
from m4d.cli.params import SECONDS
from m4d.cluster.connect import DEFAULT_HUB_DIR

RULE_WIDTH = 100  # the heading over each read, also when the console is unbounded (a file or a pipe)
_STYLE = {"decision": "cyan", "plan": "blue", "commit": "magenta", "sync": "yellow", "module": "green",
          "endpoint": "bold green", "denied": "bold red", "error": "red", "step": "bold"}  # fmt: skip


@click.command("demo")
@click.option("--keep", is_flag=True, help="Leave hub, sync, agents and modules running (stop with `m4d down`).")
@click.option(
    "--rows",
    type=click.IntRange(1, 100_000_000),
    default=50_000,
    show_default=True,
    help="Rows of the sample transactions.",
)
@click.option("--timeout", type=SECONDS, default=180.0, show_default=True, help="Seconds to wait for the flow.")
@pass_context
def demo(ctx: CliContext, keep: bool, rows: int, timeout: float) -> None:
    """Start an embedded hub and two members, submit the sample applications, and read governed data.

    Everything runs on this machine in the hub directory (--hub, default ./.m4d): the hub controllers,
    a local Git repository with the generated Blueprints, a sync that plays Argo CD's part, one agent per
    member and the modules they start. Each step is printed as it happens; then each application's data
    is read over Arrow Flight with its token, and every policy decision is checked on what arrived.
    """
    from m4d.demo import services  # noqa: PLC0415 - keep `m4d --help` fast
    from m4d.demo.progress import follow  # noqa: PLC0415
    from m4d.demo.setup import bring_up, submit_applications  # noqa: PLC0415

    console = ctx.console
    hub_dir = ctx.target.hub_dir
    if ctx.target.kube_context:
        raise click.UsageError("the demo runs on the embedded hub; drop --kube-context")
    if services.running(hub_dir):
        raise click.ClickException(f"a demo is already running in {hub_dir}; stop it with `m4d down` first")

    def say(stage: str, message: str) -> None:
        console.print(f"[{_STYLE.get(stage, 'white')}]{stage:>9}[/]  {message}", highlight=False, soft_wrap=True)

    try:
        paths = bring_up(hub_dir, rows, say)
        submit_applications(paths, say)
        begin = time.monotonic()
        done, waiting = follow(ctx.hub(), say, timeout)
        if not done:
            raise click.ClickException(
                f"the flow did not settle within {timeout:g}s; waiting for:\n  " + "\n  ".join(waiting)
            )
        say("step", f"every application settled in {time.monotonic() - begin:.1f}s")
        _read_everything(ctx)
    finally:
        if not keep:
            stopped = services.stop_all(hub_dir)
            console.print(
                f"stopped {', '.join(stopped)} and their modules; `{invocation(hub_dir)} demo --keep` leaves them "
                "running",
                soft_wrap=True,
            )
    if keep:
        m4d = invocation(hub_dir)
        console.print(
            f"\nStill running in {paths.hub}. Try:\n"
            f"  {m4d} get m4dapplications\n"
            f"  {m4d} explain m4dapplication marketing-eu-fr\n"
            f"  git --git-dir {shlex.quote(str(hub_dir / 'gitops.git'))} log --stat\n"
            f"  {m4d} token fraud-detection   # for your own Flight client\n"
            f"  {m4d} down",
            highlight=False,
            soft_wrap=True,
        )


def invocation(hub_dir: Path) -> str:
    """`m4d` as the user can type it again, here: the name on PATH if that is this very command, else the
    path they ran (`.venv/bin/m4d`), or the interpreter for `python -m m4d.cli`; `--hub` unless default."""
    ran = Path(sys.argv[0])
    if ran.name == "__main__.py":
        command = f"{shlex.quote(sys.executable)} -m m4d.cli"
    else:
        on_path = shutil.which("m4d")
        same = on_path is not None and ran.exists() and Path(on_path).resolve() == ran.resolve()
        command = "m4d" if same else shlex.quote(sys.argv[0])
    if os.environ.get("M4D_HUB") or hub_dir != Path(DEFAULT_HUB_DIR):
        command += f" --hub {shlex.quote(str(hub_dir))}"
    return command


def _read_everything(ctx: CliContext) -> None:
    from m4d.api import M4DApplication  # noqa: PLC0415
    from m4d.credentials.app_tokens import read_token  # noqa: PLC0415
    from m4d.credentials.local import SecretsFile  # noqa: PLC0415
    from m4d.demo.reader import read_asset, refused_without_token  # noqa: PLC0415
    from m4d.demo.verify import source_table, verify  # noqa: PLC0415

    console = ctx.console
    hub_dir = ctx.target.hub_dir
    sources = {"finance/transactions": hub_dir / "data" / "transactions.parquet",
               "marketing/campaigns": hub_dir / "data" / "campaigns.csv"}  # fmt: skip
    secrets = SecretsFile(ctx.target.layout.secrets_file)
    failures = 0
    for app in ctx.hub().list(M4DApplication).items:
        assert app.status is not None
        for asset, state in sorted(app.status.asset_states.items()):
            title = f"{app.name} ({app.spec.app_info.intent}, role {app.spec.app_info.role}) reads {asset}"
            console.print(Rule(title), width=min(console.width, RULE_WIDTH))
            if state.endpoint is None:
                reason = state.conditions[0].message if state.conditions else "no endpoint"
                console.print(f"[bold red]not served:[/] {reason}")
                continue
            token = read_token(secrets, app.metadata.namespace or "default", app.name)
            result = read_asset(state.endpoint, token, asset)
            console.print(_preview(result.table, _columns(state)), highlight=False)
            console.print(f"{result.table.num_rows:,} rows from {result.endpoint}; without a token: "
                          f"[red]{refused_without_token(state.endpoint, asset)}[/]")  # fmt: skip
            source = source_table(str(sources[asset]), list({*result.table.column_names, *_columns(state)}))
            checks = {c.message: c for c in verify(state.decisions, result.table, source)}  # copy and read agree
            for check in checks.values():
                failures += not check.ok
                mark = "[green]enforced[/]" if check.ok else "[bold red]NOT ENFORCED[/]"
                console.print(f"  {mark}  {check.message}", highlight=False)
    if failures:
        raise click.ClickException(f"{failures} policy decision(s) were not enforced on the data read")


def _columns(state: object) -> list[str]:
    return [c for d in getattr(state, "decisions", []) for a in d.actions for c in a.columns]


def _preview(table: object, governed: list[str], rows: int = 3) -> Table:
    """The first rows: the columns policies act on first, then a few others for context."""
    import pyarrow as pa  # noqa: PLC0415

    assert isinstance(table, pa.Table)
    first = [c for c in table.column_names if c in governed]
    others = [c for c in table.column_names if c not in governed]
    shown = first + others[: max(2, 6 - len(first))]
    grid = Table(box=None, header_style="bold", pad_edge=False)
    for name in shown:
        grid.add_column(name, overflow="ellipsis", max_width=26, no_wrap=True)
    for row in table.select(shown).slice(0, rows).to_pylist():
        grid.add_row(*(str(v) for v in row.values()))
    return grid


@click.command("down")
@pass_context
def down(ctx: CliContext) -> None:
    """Stop what `m4d demo --keep` left running in the hub directory (services and their modules)."""
    from m4d.demo import services  # noqa: PLC0415

    stopped = services.stop_all(ctx.target.hub_dir)
    click.echo(f"stopped {', '.join(stopped)}" if stopped else f"nothing was running in {ctx.target.hub_dir}")


COMMANDS = [demo, down]
