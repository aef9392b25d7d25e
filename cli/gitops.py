"""`m4d gitops`: the GitOps repository as the hub's Plotters and member clusters would have it.

m4d gitops render --out DIR    write the generated tree (no commit): what a reviewer or CI diffs
m4d gitops sync                commit the whole generated tree once (as the Plotter controller does)
m4d gitops show                where the repository is, its branch, mode and head
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from m4d.cli.context import CliContext, pass_context

F = TypeVar("F", bound=Callable[..., Any])
_HOST_META = "m4d.git_host"


def _remember_host(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    # Kept on the click context rather than passed to every command that takes the GitOps options.
    ctx.meta.setdefault(_HOST_META, {})[param.name] = value


def gitops_options(command: F) -> F:
    """--gitops-repo, --gitops-branch, --gitops-mode, --git-host, --git-host-token-ref (also for `m4d hub run`)."""
    options = [
        click.option(
            "--gitops-repo",
            envvar="M4D_GITOPS_REPO",
            metavar="URL",
            help="GitOps repository: path, file://, git://, http(s)://, ssh (default: <hub dir>/gitops.git).",
        ),
        click.option("--gitops-branch", envvar="M4D_GITOPS_BRANCH", metavar="BRANCH", help="Branch Argo CD syncs."),
        click.option(
            "--gitops-mode",
            envvar="M4D_GITOPS_MODE",
            type=click.Choice(["direct", "review"]),
            help="direct: commit to the branch; review: a pull request per change (on the Git host hub.yaml "
            "gitHosts names for the repository, else description files).",
        ),
        click.option(
            "--git-host",
            envvar="M4D_GIT_HOST",
            type=click.Choice(["gitea", "forgejo"]),
            expose_value=False,
            callback=_remember_host,
            help="Review mode: the Git host's API that takes the pull requests (default: hub.yaml gitHosts).",
        ),
        click.option(
            "--git-host-token-ref",
            envvar="M4D_GIT_HOST_TOKEN_REF",
            metavar="env:NAME|file:PATH",
            expose_value=False,
            callback=_remember_host,
            help="Where the Git host's API token is (never the token itself).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def gitops_settings(ctx: CliContext, repo: str | None, branch: str | None, mode: str | None) -> Any:
    from m4d.controllers.hub import HubConfig, signing_keys  # noqa: PLC0415 - keep `m4d --help` fast
    from m4d.gitops.settings import GitOpsSettings, load_git_hosts  # noqa: PLC0415

    layout = ctx.target.layout
    hosts = load_git_hosts(layout.root / "hub.yaml")  # review mode's pull requests go to the repository's host
    chosen = click.get_current_context().meta.get(_HOST_META, {})
    return GitOpsSettings.resolve(
        layout.gitops_repo,
        layout.root,
        repo=repo,
        branch=branch,
        mode=mode,
        hosts=hosts,
        host=chosen.get("git_host"),
        host_token=chosen.get("git_host_token_ref"),
        # Each member's Blueprint signing key, where the hub keeps it (hub.yaml), minted on first use.
        keys=signing_keys(HubConfig.load(layout), layout.secrets_file),
    )


@click.group()
def gitops() -> None:
    """The GitOps repository the Plotter controller writes and Argo CD syncs."""


def _hub_state(ctx: CliContext) -> tuple[list[Any], list[Any]]:
    from m4d.api.cluster import MemberCluster  # noqa: PLC0415
    from m4d.api.plotter import Plotter  # noqa: PLC0415

    hub = ctx.hub()
    clusters = [c for c in hub.list(MemberCluster).items if c.metadata.deletion_timestamp is None]
    return hub.list(Plotter).items, clusters


@gitops.command()
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Directory to write.")
@gitops_options
@pass_context
def render(
    ctx: CliContext, out: Path, gitops_repo: str | None, gitops_branch: str | None, gitops_mode: str | None
) -> None:
    """Write the generated tree for the current hub state into DIR, without committing.

    The generated folders (clusters/, argocd/, bootstrap/) in DIR are replaced; other files are left.
    Exits with status 1 if a Plotter could not be rendered (the rest of the tree is still written).
    """
    from m4d.generator.naming import OWNED_PREFIXES  # noqa: PLC0415
    from m4d.generator.tree import render_tree  # noqa: PLC0415

    settings = gitops_settings(ctx, gitops_repo, gitops_branch, gitops_mode)
    plotters, clusters = _hub_state(ctx)
    result = render_tree(plotters, clusters, settings.render_config())
    for prefix in OWNED_PREFIXES:
        shutil.rmtree(out / prefix.rstrip("/"), ignore_errors=True)
    for path, content in sorted(result.rendered.files.items()):
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    blueprints = sum(1 for o in result.rendered.origins.values() if o.kind == "Blueprint")
    ctx.console.print(
        f"wrote {len(result.rendered.files)} files to {out}: {blueprints} Blueprints for "
        f"{len(plotters) - len(result.errors)} Plotters on {len(clusters)} clusters",
        highlight=False,
        soft_wrap=True,
    )
    for key, error in sorted(result.errors.items()):
        ctx.err.print(f"[red]not rendered[/red] Plotter {key}: {error}", highlight=False, soft_wrap=True)
    if result.errors:
        raise click.exceptions.Exit(1)


@gitops.command()
@gitops_options
@pass_context
def sync(ctx: CliContext, gitops_repo: str | None, gitops_branch: str | None, gitops_mode: str | None) -> None:
    """Commit the whole generated tree for the current hub state (nothing if the repository has it)."""
    from m4d.generator.changes import full_change  # noqa: PLC0415

    settings = gitops_settings(ctx, gitops_repo, gitops_branch, gitops_mode)
    plotters, clusters = _hub_state(ctx)
    change, errors = full_change(plotters, clusters, settings.render_config(), "Sync requested with `m4d gitops sync`.")
    writer = settings.open_writer()
    try:
        result = writer.write(change)
    finally:
        writer.close()
    if result.review is not None:
        state = "rejected (closed without merge)" if result.review.state == "rejected" else "awaits review"
        ctx.console.print(f"the sync {state}: {result.review.url} (branch {result.review.branch})", soft_wrap=True)
    elif result.commit:
        ctx.console.print(
            f"committed {result.commit[:12]} to {settings.branch}: {len(result.changed)} files changed", soft_wrap=True
        )
    else:
        ctx.console.print(
            f"{settings.branch} at {(result.revision or 'nothing')[:12]} already holds the tree", soft_wrap=True
        )
    for key, error in sorted(errors.items()):
        ctx.err.print(f"[red]not rendered[/red] Plotter {key}: {error}", highlight=False, soft_wrap=True)
    if errors:
        raise click.exceptions.Exit(1)


@gitops.command()
@gitops_options
@pass_context
def show(ctx: CliContext, gitops_repo: str | None, gitops_branch: str | None, gitops_mode: str | None) -> None:
    """Where the GitOps repository is, its branch and mode, and the branch's head."""
    settings = gitops_settings(ctx, gitops_repo, gitops_branch, gitops_mode)
    writer = settings.open_writer()
    try:
        head = writer.head()
    finally:
        writer.close()
    ctx.console.print(f"repository {settings.remote.url}", highlight=False, soft_wrap=True)
    ctx.console.print(f"branch     {settings.branch} at {head or '(no commits yet)'}", highlight=False, soft_wrap=True)
    ctx.console.print(f"mode       {settings.mode}", highlight=False, soft_wrap=True)
    if settings.host is not None:
        host = settings.host
        where = f"{host.server_url()} project {host.project_path()}"
        ctx.console.print(
            f"git host   {host.provider} {where} (token {host.token_ref})", highlight=False, soft_wrap=True
        )


COMMANDS = [gitops]
