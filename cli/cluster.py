"""`m4d cluster`: onboard member clusters from templates, offboard them, and list them.

m4d cluster onboard NAME --template T --region R [--set k=v] [--bundle FILE|-]
m4d cluster offboard NAME
m4d cluster list
m4d cluster templates
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from m4d.cli.context import CliContext, pass_context
from m4d.cli.gitops import gitops_options, gitops_settings


@click.group()
def cluster() -> None:
    """Member clusters: onboard from a template, offboard, list with their heartbeat and applied revision."""


def _parse_sets(sets: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--set")
        values[key.strip()] = value
    return values


def _write_bundle(values: bytes, target: str) -> str:
    if target == "-":
        sys.stdout.buffer.write(values)
        sys.stdout.flush()
        return "stdout"
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Owner-only from the start (the agent's hub token is in it), also when it replaces an older bundle.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(values)
    return str(path)


@cluster.command()
@click.argument("name")
@click.option("-t", "--template", required=True, help="Template name in cluster-templates/, or a template file.")
@click.option("--region", help="The cluster's region (the template's `region` parameter).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="A template parameter; repeatable.")
@click.option(
    "--bundle",
    metavar="FILE|-",
    help="Write the member install bundle (values for the m4d-agent Helm chart) to FILE or stdout (-).",
)
@click.option("--hub-kubeconfig", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Kubeconfig of the agent's identity on the hub (default: a token for the member's agent "
                   "service account on the --kube-context hub, made now).")  # fmt: skip
@click.option("--hub-context", help="Context in --hub-kubeconfig (default: its current context).")
@click.option(
    "--hub-server", metavar="URL", help="The hub API URL as the member reaches it (default: the kubeconfig's)."
)
@click.option("--token-days", type=click.IntRange(1, 3650), default=365, show_default=True,
              help="Lifetime of the agent's hub token (onboard again to renew it).")  # fmt: skip
@click.option("--image", help="Image of the agent in the bundle (default: ghcr.io/m4d/m4d:<version>).")
@gitops_options
@pass_context
def onboard(
    ctx: CliContext,
    name: str,
    template: str,
    region: str | None,
    sets: tuple[str, ...],
    bundle: str | None,
    hub_kubeconfig: Path | None,
    hub_context: str | None,
    hub_server: str | None,
    token_days: int,
    image: str | None,
    gitops_repo: str | None,
    gitops_branch: str | None,
    gitops_mode: str | None,
) -> None:
    """Create the MemberCluster NAME on the hub from a template, register it in the GitOps repository
    (its folder and Argo CD Application, no secrets), and write the member's install bundle.

    On a Kubernetes hub the bundle's hub connection is the member agent's own service account there
    (`m4d-member-NAME/m4d-agent`, made now with the least it may do: m4d.cluster.rbac) and a token for it;
    --hub-kubeconfig gives another identity instead."""
    from m4d.controllers.registry.onboarding import onboard as do_onboard  # noqa: PLC0415
    from m4d.generator import bundle as bundles  # noqa: PLC0415
    from m4d.generator.cluster_template import load_template  # noqa: PLC0415

    values = _parse_sets(sets)
    if region is not None:
        values["region"] = region
    chosen = load_template(template)
    hub_config = None
    if bundle is not None:
        default = Path(ctx.target.kubeconfig or Path.home() / ".kube" / "config")  # kubectl's lookup
        source = hub_kubeconfig or (default if ctx.target.kube_context and default.is_file() else None)
        if source is None:
            raise click.UsageError(
                "the bundle's hub connection needs a hub API the member can reach: pass --hub-kubeconfig "
                f"(an embedded hub runs its members' agents on this machine: m4d --hub {ctx.target.hub_dir} "
                f"agent --cluster {name})"
            )
        hub_config = bundles.hub_kubeconfig(
            source, hub_context or (None if hub_kubeconfig else ctx.target.kube_context)
        )
        if hub_server:
            hub_config["cluster"]["server"] = hub_server
    settings = gitops_settings(ctx, gitops_repo, gitops_branch, gitops_mode)
    done = do_onboard(ctx.hub(), settings, name, chosen, values)
    spec = done.cluster.spec
    where = f"region {spec.region}" + (f", zone {spec.zone}" if spec.zone else "")
    ctx.console.print(
        f"membercluster/{name} {done.verb} from template {chosen.name} ({where})", highlight=False, soft_wrap=True
    )
    write = done.write
    if write.review is not None:
        state = "was rejected (closed without merge)" if write.review.state == "rejected" else "awaits review"
        ctx.console.print(f"registration {state} on branch {write.review.branch}: {write.review.url}", soft_wrap=True)
    elif write.commit:
        ctx.console.print(
            f"registered in {settings.remote.url} at {write.commit[:12]}", highlight=False, soft_wrap=True
        )
    else:
        ctx.console.print(f"already registered in {settings.remote.url}", highlight=False, soft_wrap=True)
    if hub_config is not None and bundle is not None:
        if hub_kubeconfig is None:
            hub_config = bundles.token_connection(hub_config, _agent_token(ctx, name, token_days))
        out = _write_bundle(bundles.agent_values(name, hub_config, image or bundles.DEFAULT_IMAGE), bundle)
        if out != "stdout":
            ctx.console.print(
                f"member install bundle in {out}: helm install m4d-agent deploy/charts/m4d-agent -n m4d-system "
                f"--create-namespace -f {out} (on the member)",
                soft_wrap=True,
            )


def _forget_agent(ctx: CliContext, name: str) -> bool:
    """Remove what onboarding made for the member's agent on a Kubernetes hub (its token stops working)."""
    from m4d.cluster.kube import KubeCluster  # noqa: PLC0415
    from m4d.cluster.rbac import member_agent_manifests  # noqa: PLC0415

    hub = ctx.hub()
    assert isinstance(hub, KubeCluster)
    removed = False
    # Cluster-scoped objects by hand; the namespace takes its service account, roles and reports with it.
    for doc in reversed(member_agent_manifests(name)):
        if doc["kind"] in ("ClusterRoleBinding", "ClusterRole", "Namespace"):
            removed = hub.manifests.delete(doc["apiVersion"], doc["kind"], doc["metadata"]["name"]) or removed
    return removed


def _agent_token(ctx: CliContext, name: str, days: int) -> str:
    """The member agent's identity on the (Kubernetes) hub, and a token for it from the TokenRequest API."""
    from m4d.cluster.kube import KubeCluster  # noqa: PLC0415
    from m4d.cluster.rbac import SERVICE_ACCOUNT, member_agent_manifests, member_namespace  # noqa: PLC0415

    hub = ctx.hub()
    assert isinstance(hub, KubeCluster)
    hub.manifests.apply_all(member_agent_manifests(name), field_manager="m4d-onboard")
    return hub.manifests.service_account_token(member_namespace(name), SERVICE_ACCOUNT, seconds=days * 86400)


@cluster.command()
@click.argument("name")
@gitops_options
@pass_context
def offboard(
    ctx: CliContext, name: str, gitops_repo: str | None, gitops_branch: str | None, gitops_mode: str | None
) -> None:
    """Delete the MemberCluster NAME from the hub and remove its folder (namespace and Blueprints) and its
    Argo CD Application from the GitOps repository. Run again, it finishes an interrupted offboarding."""
    from m4d.controllers.registry.onboarding import offboard as do_offboard  # noqa: PLC0415

    settings = gitops_settings(ctx, gitops_repo, gitops_branch, gitops_mode)
    done = do_offboard(ctx.hub(), settings, name)
    if ctx.target.is_kubernetes and _forget_agent(ctx, name):
        ctx.console.print(f"the agent identity of {name} on the hub removed", highlight=False, soft_wrap=True)
    write = done.write
    if done.deleted:
        ctx.console.print(f"membercluster/{name} deleted", highlight=False, soft_wrap=True)
    if write.review is not None:
        ctx.console.print(f"removal awaits review on branch {write.review.branch}: {write.review.url}", soft_wrap=True)
    elif write.commit:
        ctx.console.print(f"removed from {settings.remote.url} at {write.commit[:12]}", highlight=False, soft_wrap=True)
    elif done.deleted:
        ctx.console.print(f"nothing of {name} was in {settings.remote.url}", highlight=False, soft_wrap=True)
    else:
        raise click.ClickException(f"no member cluster {name} on the hub or in {settings.remote.url}")


@cluster.command("list")
@pass_context
def list_clusters(ctx: CliContext) -> None:
    """Member clusters with region, labels, readiness, last heartbeat and applied revision."""
    from m4d.api.cluster import MemberCluster  # noqa: PLC0415
    from m4d.api.meta import find_condition  # noqa: PLC0415
    from m4d.cli.output import age  # noqa: PLC0415

    items = ctx.hub().list(MemberCluster).items
    if not items:
        ctx.err.print("No member clusters. Onboard one: m4d cluster onboard NAME --template plain --region R")
        return
    rows = [["NAME", "REGION", "ZONE", "LABELS", "READY", "HEARTBEAT", "APPLIED REVISION"]]
    for c in items:
        status = c.status
        ready = find_condition(status.conditions, "Ready") if status else None
        rows.append(
            [
                c.name,
                c.spec.region,
                c.spec.zone or "<none>",
                ",".join(f"{k}={v}" for k, v in sorted(c.spec.labels.items())) or "<none>",
                ready.status if ready else "Unknown",
                age(status.last_heartbeat) if status and status.last_heartbeat else "<never>",
                (status.applied_revision or "<none>")[:12] if status else "<none>",
            ]
        )
    # Plain aligned columns, never wrapped or cut, as kubectl prints them (scripts read this too).
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@cluster.command()
@pass_context
def templates(ctx: CliContext) -> None:
    """The cluster templates and their parameters."""
    from m4d.generator.cluster_template import available, load_template, templates_dir  # noqa: PLC0415

    names = available()
    if not names:
        ctx.err.print(f"no templates in {templates_dir()} (set M4D_CLUSTER_TEMPLATES)", soft_wrap=True)
        return
    for name in names:
        t = load_template(name)
        click.echo(f"{name}: {t.description}")
        for p in t.body.parameters:
            how = "required" if p.required else f"default {p.default!r}"
            allowed = f", one of {', '.join(p.enum)}" if p.enum else ""
            click.echo(f"  --set {p.name}=...  ({how}{allowed}) {p.description}")


COMMANDS = [cluster]
