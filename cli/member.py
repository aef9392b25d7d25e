"""Member-side commands: `m4d agent` (run a member's Blueprints), `m4d sync` (the embedded stand-in for
Argo CD) and `m4d token` (an application's access token for its workload)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import click

from m4d.cli.context import CliContext, pass_context
from m4d.cli.params import CLUSTER_NAME, SECONDS
from m4d.cli.signals import setup_logging, stop_event


@click.command("agent")
@click.option("--cluster", type=CLUSTER_NAME, required=True, help="Name of the member cluster this agent runs for.")
@click.option(
    "--member-kube-context",
    default=None,
    help="The member's kubeconfig context: modules become Deployments/Jobs there, run by the member's nodes "
    "(default: embedded store, modules run as local processes from the Blueprint).",
)
@click.option(
    "--member-in-cluster",
    is_flag=True,
    help="The member is the cluster this runs in (the agent's Deployment on its member).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Agent settings (YAML): credentials, the modules' Vault, cluster domain, Blueprint namespace "
    "(m4d/controllers/agent/settings.py).",
)
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), help="Where module instances run.")
@click.option("--heartbeat", type=SECONDS, default=5.0, show_default=True, help="Seconds between heartbeats.")
@click.option("--stop-modules", is_flag=True, help="Stop the modules on exit (default: leave them for the next agent).")
@click.option("-v", "--verbose", is_flag=True)
@pass_context
def agent(
    ctx: CliContext,
    cluster: str,
    member_kube_context: str | None,
    member_in_cluster: bool,
    config_file: Path | None,
    workdir: Path | None,
    heartbeat: float,
    stop_modules: bool,
    verbose: bool,
) -> None:
    """Run the blueprint agent of one member: its Blueprints become running modules, reported to the hub."""
    from m4d.cluster.interface import Cluster  # noqa: PLC0415
    from m4d.cluster.kube import KubeCluster  # noqa: PLC0415 - start-up cost only when used
    from m4d.controllers.agent.agent import BlueprintAgent  # noqa: PLC0415
    from m4d.controllers.agent.heartbeat import run_heartbeat  # noqa: PLC0415
    from m4d.controllers.agent.settings import AgentFile, AgentSettings  # noqa: PLC0415
    from m4d.credentials.source import CredentialSource  # noqa: PLC0415
    from m4d.runtime.manager import Manager  # noqa: PLC0415

    setup_logging(logging.DEBUG if verbose else logging.INFO)
    layout = ctx.target.layout
    if member_in_cluster:
        member: Cluster = KubeCluster.in_cluster(name=cluster)
    elif member_kube_context:
        member = KubeCluster.from_kubeconfig(context=member_kube_context, config_file=ctx.target.kubeconfig)
    else:
        member = ctx.target.open_member(cluster)
    file = AgentFile.load(config_file) if config_file is not None else AgentFile()
    settings = AgentSettings(
        cluster=cluster,
        workdir=(workdir or layout.root / "run" / cluster).absolute(),
        credentials=file.credentials or CredentialSource(kind="file", path=str(layout.secrets_file)),
        cluster_domain=file.cluster_domain or "cluster.local",
        module_vault=file.module_vault,
        namespace=file.namespace,
    )
    controller = BlueprintAgent(member, hub=ctx.hub(), settings=settings)
    controller.supervisor.warm()
    stop = stop_event(ctx.err)
    manager = Manager([controller])
    beats = threading.Thread(
        target=run_heartbeat, args=(ctx.hub(), cluster, stop, heartbeat, manager.fail), daemon=True
    )
    beats.start()
    ctx.err.print(f"agent for cluster {cluster}: member {member.name}, hub {ctx.target.describe()}")
    try:
        manager.run(stop)
    finally:
        controller.close()
        if stop_modules:
            controller.supervisor.stop_all()
        else:
            controller.supervisor.detach_all()
        beats.join(5)
        member.close()


def _check_repo(repo: Path | None, branch: str) -> None:
    """A repository named on the command line must be one, and the branch a valid name (the hub's own
    repository may not exist yet: the sync waits for its first commit)."""
    import git  # noqa: PLC0415

    if repo is not None:
        try:
            git.Repo(str(repo)).close()
        except (git.NoSuchPathError, git.InvalidGitRepositoryError):
            raise click.BadParameter(f"{str(repo)!r} is not a Git repository", param_hint="--repo") from None
    try:
        git.Git().check_ref_format("--branch", branch)
    except git.GitCommandError:
        raise click.BadParameter(f"{branch!r} is not a valid branch name", param_hint="--branch") from None


@click.command("sync")
@click.option("--once", is_flag=True, help="Apply the repository once and exit.")
@click.option("--repo", type=click.Path(path_type=Path), help="GitOps repository (default: the hub's gitops.git).")
@click.option("--branch", default="main", show_default=True)
@click.option(
    "--member-context",
    "member_contexts",
    multiple=True,
    metavar="NAME=CONTEXT",
    help="Sync member NAME to this kubeconfig context (a real cluster); repeatable. Others: embedded stores.",
)
@click.option("-v", "--verbose", is_flag=True)
@pass_context
def sync(
    ctx: CliContext, once: bool, repo: Path | None, branch: str, member_contexts: tuple[str, ...], verbose: bool
) -> None:
    """Apply each clusters/<name>/ folder of the GitOps repository to its member (as Argo CD would)."""
    from m4d.cluster.interface import Cluster  # noqa: PLC0415
    from m4d.controllers.sync.local import LocalSync  # noqa: PLC0415

    setup_logging(logging.DEBUG if verbose else logging.INFO)
    _check_repo(repo, branch)
    contexts: dict[str, str] = {}
    for item in member_contexts:
        name, sep, context = item.partition("=")
        if not sep or not name or not context:
            raise click.BadParameter(f"{item!r} is not NAME=CONTEXT", param_hint="--member-context")
        contexts[name] = context
    members: dict[str, Cluster] = {}

    def member(name: str) -> Cluster:
        if name not in members:
            if name in contexts:
                from m4d.cluster.kube import KubeCluster  # noqa: PLC0415 - only for real members

                members[name] = KubeCluster.from_kubeconfig(contexts[name], ctx.target.kubeconfig, name=name)
            else:
                members[name] = ctx.target.open_member(name)
        return members[name]

    runner = LocalSync(repo or ctx.target.layout.gitops_repo, ctx.hub(), member, branch=branch)
    try:
        if once:
            for name, plan in sorted(runner.sync_once(force=True).items()):
                click.echo(f"{name}: {plan.summary()}")
            return
        runner.run(stop_event(ctx.err))
    finally:
        for store in members.values():
            store.close()


@click.command("token")
@click.argument("name")
@click.option("-n", "--namespace", default="default", show_default=True)
@pass_context
def token(ctx: CliContext, name: str, namespace: str) -> None:
    """Print the access token a workload of application NAME presents to its module endpoints.

    On a Kubernetes hub it is the Secret the application's status names (`m4d-token-NAME` in its
    namespace); on the embedded hub, the hub directory's secrets file.
    """
    from m4d.credentials.app_tokens import read_token  # noqa: PLC0415
    from m4d.credentials.local import SecretsFile  # noqa: PLC0415

    if ctx.target.is_kubernetes:
        click.echo(_token_from_secret(ctx, name, namespace))
        return
    click.echo(read_token(SecretsFile(ctx.target.layout.secrets_file), namespace, name))


def _token_from_secret(ctx: CliContext, name: str, namespace: str) -> str:
    import base64  # noqa: PLC0415

    from m4d.api.application import M4DApplication  # noqa: PLC0415
    from m4d.cluster.kube import KubeCluster  # noqa: PLC0415
    from m4d.credentials.app_tokens import TOKEN_ENTRY, token_secret_name  # noqa: PLC0415
    from m4d.errors import NotFoundError  # noqa: PLC0415

    hub = ctx.hub()
    assert isinstance(hub, KubeCluster)
    app = hub.get(M4DApplication, name, namespace)
    ref = app.status.access_token if app.status is not None else None
    secret_name, key = (ref.name, ref.key) if ref is not None else (token_secret_name(name), TOKEN_ENTRY)
    try:
        secret = hub.manifests.get("v1", "Secret", secret_name, namespace)
    except NotFoundError:
        raise click.ClickException(
            f"application {namespace}/{name} has no access token yet (Secret {secret_name}); the hub mints it "
            "when it reconciles the application"
        ) from None
    value = (secret.get("data") or {}).get(key)
    if not value:
        raise click.ClickException(f"Secret {namespace}/{secret_name} holds no {key!r}")
    return base64.b64decode(value).decode()


COMMANDS = [agent, sync, token]
