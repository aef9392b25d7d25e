"""`m4d explain m4dapplication NAME`: the whole reasoning behind an application's plan.

For each asset: the outcome (Ready / Deny / Error) with its reason and message, the policy decisions
behind it, the modules and clusters chosen, and every candidate considered with why it was taken or
rejected. By default this is what the application controller recorded in the status; `--live` asks the
catalog and policy manager now and plans without acting (for a hub whose controllers are not running).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from m4d.api.application import AssetState, DataContext, M4DApplication
from m4d.api.common import Action
from m4d.api.meta import find_condition
from m4d.api.registry import UnknownKindError, kind_info
from m4d.cli.context import CliContext, pass_context
from m4d.cli.hub import connector_options, hub_config

_VERDICT_STYLE = {"chosen": "bold green", "viable": "green", "rejected": "red", "ignored": "yellow"}
_OUTCOME_STYLE = {"Ready": "green", "Deny": "red", "Error": "yellow"}


def _action_text(action: Action) -> str:
    args = list(action.columns)
    args += [v if k == "predicate" else f"{k}={v}" for k, v in sorted(action.options.items())]
    return f"{action.name}({', '.join(args)})" if args else action.name


def outcome(state: AssetState) -> tuple[str, str, str]:
    """(Ready | Deny | Error | Unknown, reason, message) of an asset state."""
    for kind in ("Deny", "Error", "Ready"):
        condition = find_condition(state.conditions, kind)
        if condition is not None and condition.status == "True":
            return kind, condition.reason, condition.message
    ready = find_condition(state.conditions, "Ready")
    return "Unknown", ready.reason if ready else "", ready.message if ready else "not evaluated yet"


def render(console: Console, app: M4DApplication, states: dict[str, AssetState], live: bool) -> None:
    status = app.status
    source = "evaluated now (--live), nothing applied" if live else "as recorded in the application's status"
    console.print(f"[bold]M4DApplication {escape(app.key)}[/] — {source}")
    info = app.spec.app_info
    context = [f"intent {info.intent!r}"]
    if info.role:
        context.append(f"role {info.role!r}")
    if info.processing_geography:
        context.append(f"processing geography {info.processing_geography}")
    if app.spec.selector.cluster_name:
        context.append(f"workload on cluster {app.spec.selector.cluster_name}")
    console.print("  " + escape(", ".join(context)))
    if status is not None and not live:
        ready = find_condition(status.conditions, "Ready")
        if ready is not None:
            console.print(f"  Ready={ready.status} ({escape(ready.reason)}): {escape(ready.message)}")
        if status.plotter is not None:
            console.print(f"  Plotter: {status.plotter.namespace}/{status.plotter.name}")
    if not states:
        console.print("  no asset has been evaluated yet (is `m4d hub run` running?)")
    by_key = {d.data_set_id: d for d in app.spec.data}
    for key, state in states.items():
        render_asset(console, key, state, by_key.get(key.split(" (")[0]))


def render_asset(console: Console, key: str, state: AssetState, data: DataContext | None) -> None:
    kind, reason, message = outcome(state)
    style = _OUTCOME_STYLE.get(kind, "white")
    wants = f" ({data.flow} as {data.requirements.interface})" if data is not None else ""
    console.print()
    console.print(f"[bold]Asset {escape(key)}[/]{escape(wants)}: [{style}]{kind}[/] ({escape(reason)})")
    console.print(f"  {escape(message)}")
    if state.endpoint is not None:
        console.print(f"  endpoint: {escape(state.endpoint.url)} ({escape(state.endpoint.protocol)})")
    if state.decisions:
        console.print("  Policy decisions:")
        for d in state.decisions:
            verdict = "[red]denied[/]" if d.denied else "allowed"
            actions = ", ".join(_action_text(a) for a in d.actions) or "no actions"
            where = f" in {d.geography}" if d.geography else ""
            policy = f" by {d.policy}" if d.policy else ""
            note = f" — {d.message}" if d.message else ""
            console.print(f"    {d.flow}{where}: {verdict}{escape(policy)}; {escape(actions)}{escape(note)}")
    if state.modules:
        console.print("  Chosen:")
        for m in state.modules:
            via = f" via storage {m.storage}" if m.storage else ""
            actions = f", enforcing {', '.join(m.actions)}" if m.actions else ""
            console.print(f"    {m.capability}: module {m.module} on cluster {m.cluster}{via}{actions}")
    if state.explanation:
        table = Table(title=None, show_edge=False, pad_edge=False, box=None, header_style="bold")
        for column in ("STEP", "MODULE", "CLUSTER", "STORAGE", "VERDICT", "WHY"):
            table.add_column(column, overflow="fold")
        for c in state.explanation:
            verdict = f"[{_VERDICT_STYLE.get(c.verdict, 'white')}]{c.verdict}[/]"
            table.add_row(c.step, c.module or "-", c.cluster or "-", c.storage or "-", verdict, escape(c.reason))
        console.print("  Considered:")
        console.print(table)


@click.command("explain")
@click.argument("kind")
@click.argument("name")
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option("--live", is_flag=True, help="Ask the catalog and policy manager now and plan, without acting.")
@click.option("-o", "--output", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@connector_options
@pass_context
def explain(
    ctx: CliContext,
    kind: str,
    name: str,
    namespace: str,
    live: bool,
    fmt: str,
    catalog: str | None,
    policy: str | None,
    policy_default: str | None,
    taxonomy: tuple[Path, ...],
    connector_timeout: float | None,
) -> None:
    """Explain an application's plan: each asset's outcome, the decisions, and every candidate weighed.

    KIND is m4dapplication (or m4dapplications, app). The connector options apply with --live.
    """
    try:
        info = kind_info(kind)
    except UnknownKindError as exc:
        raise click.BadParameter(str(exc), param_hint="KIND") from None
    if info.model is not M4DApplication:
        raise click.BadParameter(f"only m4dapplication can be explained (got {kind})", param_hint="KIND")
    hub = ctx.hub()
    app = hub.get(M4DApplication, name, namespace)
    if live:
        from m4d.controllers.hub import build_hub  # noqa: PLC0415 - keep `m4d --help` fast

        config = hub_config(ctx, catalog, policy, policy_default, taxonomy, connector_timeout)
        built = build_hub(hub, config)
        try:
            controller = built.application
            states = controller.evaluate(app).asset_states()
        finally:
            built.close()
    else:
        states = dict(app.status.asset_states) if app.status else {}
    if fmt == "json":
        click.echo(json.dumps({k: v.wire() for k, v in states.items()}, indent=2))
        return
    render(ctx.console, app, states, live)


COMMANDS = [explain]
