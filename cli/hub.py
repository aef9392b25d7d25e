"""`m4d hub run`: run the hub's controllers until stopped, or until there is nothing left to do."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import click

from m4d.cli.context import CliContext, pass_context
from m4d.cli.gitops import gitops_options, gitops_settings
from m4d.cli.params import SECONDS
from m4d.cli.signals import setup_logging, stop_event
from m4d.errors import PermanentError

if TYPE_CHECKING:
    from m4d.controllers.hub import HubConfig


F = TypeVar("F", bound=Callable[..., Any])


def connector_options(command: F) -> F:
    """Options that choose the catalog, the policy manager and the taxonomy (shared with `m4d explain`)."""
    options = [
        click.option(
            "--catalog", metavar="SPEC", help="file:DIR or fybrik:URL (default: hub.yaml, else file:<hub>/catalog)."
        ),
        click.option(
            "--policy",
            metavar="SPEC",
            help="builtin:DIR, opa:URL or fybrik:URL (default: hub.yaml, else builtin:<hub>/policies).",
        ),
        click.option("--policy-default", type=click.Choice(["allow", "deny"]), help="Built-in engine's default."),
        click.option(
            "--taxonomy",
            "taxonomy",
            multiple=True,
            type=click.Path(exists=True, path_type=Path),
            help="An operator taxonomy layer (JSON file or directory); repeatable.",
        ),
        click.option("--connector-timeout", type=SECONDS, help="Seconds per catalog or policy request."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def hub_config(
    ctx: CliContext,
    catalog: str | None,
    policy: str | None,
    policy_default: str | None,
    taxonomy: tuple[Path, ...],
    connector_timeout: float | None,
    config_file: Path | None = None,
) -> HubConfig:
    """hub.yaml of the hub directory, overridden by the options given."""
    from m4d.controllers.hub import HubConfig  # noqa: PLC0415 - keep `m4d --help` fast

    config = HubConfig.load(ctx.target.layout, config_file)
    return replace(
        config,
        catalog=catalog or config.catalog,
        policy=policy or config.policy,
        policy_default=cast(Literal["allow", "deny"] | None, policy_default) or config.policy_default,
        taxonomy=(*config.taxonomy, *taxonomy),
        connector_timeout=connector_timeout or config.connector_timeout,
    )


@click.group()
def hub() -> None:
    """The hub: its controllers and configuration."""


@hub.command()
@connector_options
@gitops_options
@click.option("--no-gitops", is_flag=True, help="Plan only: run no Plotter controller, commit nothing.")
@click.option("--until-idle", is_flag=True, help="Reconcile until nothing is left to do, then exit (for scripts).")
@click.option("--timeout", type=SECONDS, default=120.0, show_default=True, help="With --until-idle: give up after.")
@click.option("--resync", type=SECONDS, default=None, help="Re-evaluate settled applications every so many seconds.")
@click.option(
    "--connector-recheck",
    type=SECONDS,
    default=None,
    help="Ask connectors that cannot tell when their content changed again every so many seconds (default 30).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="Objects each controller reconciles at once (default: hub.yaml, else 4).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The hub's settings file (default: <hub dir>/hub.yaml when present).",
)
@click.option(
    "--leader-elect",
    is_flag=True,
    help="Reconcile only while holding the hub's Lease (several replicas on Kubernetes; one leads).",
)
@click.option("--lease-namespace", envvar="POD_NAMESPACE", default="m4d-system", show_default=True,
              help="Namespace of the Lease (default: $POD_NAMESPACE).")  # fmt: skip
@click.option("--lease-name", default="m4d-hub", show_default=True, help="Name of the Lease.")
@click.option("-v", "--verbose", is_flag=True, help="Log every reconcile.")
@pass_context
def run(
    ctx: CliContext,
    catalog: str | None,
    policy: str | None,
    policy_default: str | None,
    taxonomy: tuple[Path, ...],
    connector_timeout: float | None,
    gitops_repo: str | None,
    gitops_branch: str | None,
    gitops_mode: str | None,
    no_gitops: bool,
    until_idle: bool,
    timeout: float,
    resync: float | None,
    connector_recheck: float | None,
    workers: int | None,
    config_file: Path | None,
    leader_elect: bool,
    lease_namespace: str,
    lease_name: str,
    verbose: bool,
) -> None:
    """Run the hub controllers until stopped (Ctrl-C or SIGTERM), or with --until-idle until idle.

    With --until-idle the exit status is 0 once every object is reconciled and no reconcile is failing,
    and 1 if that did not happen within --timeout (the failing objects are listed).

    On a hub directory one hub leads (it holds <hub dir>/hub.lock); another started on the same
    directory waits as standby and takes over when the leader stops (--until-idle refuses instead).
    """
    from m4d.controllers.hub import build_hub  # noqa: PLC0415
    from m4d.runtime.dirlock import HubLock  # noqa: PLC0415
    from m4d.runtime.manager import Manager  # noqa: PLC0415

    setup_logging(logging.DEBUG if verbose else logging.WARNING)
    if leader_elect and (until_idle or not ctx.target.is_kubernetes):
        raise click.UsageError(
            "--leader-elect needs a Kubernetes hub (--in-cluster or --kube-context), not --until-idle"
        )
    stop = None if until_idle else stop_event(ctx.err)
    config = hub_config(ctx, catalog, policy, policy_default, taxonomy, connector_timeout, config_file)
    config = replace(
        config,
        resync_after=resync or config.resync_after,
        connector_recheck=connector_recheck or config.connector_recheck,
        workers=workers or config.workers,
        gitops=None if no_gitops else gitops_settings(ctx, gitops_repo, gitops_branch, gitops_mode),
    )
    built = build_hub(ctx.hub(), config)  # every setting checked before a standby waits
    try:
        names = ", ".join(c.name for c in built.controllers)
        ctx.err.print(
            f"hub controllers ({names}) on {ctx.target.describe()}; catalog {config.catalog}, policy {config.policy}"
        )
        lock = None if ctx.target.is_kubernetes else HubLock(ctx.target.layout.root / "hub.lock")
        if lock is not None and not lock.try_acquire():
            root = ctx.target.layout.root
            if stop is None:
                raise click.ClickException(f"another hub runs on {root} ({lock.holder()}): stop it, or wait for it")
            say = ctx.err.print
            if not lock.wait(
                stop, waiting=lambda who: say(f"standby: {root} is led by {who}; taking over when it stops")
            ):
                return
            ctx.err.print(f"leading {root} now")
        manager = Manager(built.controllers)
        try:
            if stop is None:
                if manager.run_until_idle(timeout=timeout):
                    ctx.err.print("idle: every object is reconciled")
                    return
                failing = manager.failing()
                detail = "".join(f"\n  {key}: {message}" for key, message in sorted(failing.items()))
                raise click.ClickException(f"not idle after {timeout:g}s{detail or ' (still busy)'}")
            if leader_elect:
                _run_elected(ctx, manager, stop, lease_namespace, lease_name)
            else:
                manager.run(stop)
        finally:
            if lock is not None:
                lock.release()
    finally:
        built.close()


def _run_elected(ctx: CliContext, manager: Any, stop: threading.Event, namespace: str, name: str) -> None:
    """Run the controllers while this replica leads; exit 1 if leadership is lost (to start again)."""
    from m4d.cluster.kube import KubeCluster  # noqa: PLC0415
    from m4d.runtime.leader import LeaderElector, LostLeadership  # noqa: PLC0415

    hub = ctx.hub()
    assert isinstance(hub, KubeCluster)
    # Unique per process, as client-go's: a restarted container must not take itself for the leader it was.
    identity = f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"
    elector = LeaderElector(hub.manifests, namespace, name, identity)
    ctx.err.print(f"{identity}: waiting to lead (lease {namespace}/{name})")
    try:
        elector.run(stop, manager.run)
    except LostLeadership as exc:
        raise click.ClickException(str(exc)) from None


@hub.command()
@click.option("--check", "check_only", is_flag=True, help="Only say whether each store is intact; change nothing.")
@pass_context
def repair(ctx: CliContext, check_only: bool) -> None:
    """Repair the embedded stores (hub.db, members/*.db) after damage, e.g. "database disk image is malformed".

    Stop every m4d process of the hub directory first (`m4d down`). A damaged store is rebuilt from what can
    still be read and the damaged file is kept beside it (`hub.db.damaged-<time>`); what could not be
    read is listed, to be applied again. Plotters, reports and members' Blueprints are rebuilt by the
    controllers and the sync from the applications and the GitOps repository.
    """
    from m4d.cluster.repair import check, repair  # noqa: PLC0415

    if ctx.target.kube_context:
        raise click.ClickException("repair is for the embedded stores of a hub directory, not a Kubernetes cluster")
    layout = ctx.target.layout
    if not layout.root.is_dir():
        what = "a file, not a directory" if layout.root.exists() else "not there"
        raise PermanentError(f"hub directory {layout.root} is {what}: there is no store to repair")
    stores = [layout.hub_db, *sorted((layout.root / "members").glob("*.db"))]
    if not any(p.exists() for p in stores):
        ctx.console.print(f"{layout.root}: no store to repair", soft_wrap=True)
    damaged: list[str] = []
    for path in (p for p in stores if p.exists()):
        if check_only:
            problem = check(path)
            damaged += [str(path.relative_to(layout.root))] if problem is not None else []
            ctx.console.print(f"{path}: {'intact' if problem is None else f'damaged ({problem})'}", soft_wrap=True)
            continue
        report = repair(path)
        if not report.repaired:
            ctx.console.print(f"{path}: intact", soft_wrap=True)
            continue
        damaged.append(str(path.relative_to(layout.root)))
        kept = ", ".join(f"{n} {kind}" for kind, n in sorted(report.kept.items())) or "nothing"
        ctx.console.print(f"{path}: was damaged ({report.damage})", soft_wrap=True)
        ctx.console.print(f"  kept {kept}; the damaged file is now {report.moved_to}", soft_wrap=True)
        if report.lost:
            ctx.console.print("  lost (apply again what you applied; the rest is rebuilt):", soft_wrap=True)
            for kind, namespace, name in report.lost:
                ctx.console.print(f"    {kind} {namespace + '/' if namespace else ''}{name}", soft_wrap=True)
        if report.unreadable_rows:
            ctx.console.print(f"  {report.unreadable_rows} unreadable rows skipped", soft_wrap=True)
    if check_only and damaged:
        which = f"store{'s' if len(damaged) > 1 else ''} ({', '.join(damaged)})"
        raise click.ClickException(f"{len(damaged)} damaged {which}: run `m4d hub repair`")


COMMANDS = [hub]
