"""Resource commands: crds, apply, get, describe, delete — kubectl's verbs on the platform's kinds."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

import click

from m4d.api.cluster import MemberCluster
from m4d.api.crd import crd_files, crds_yaml
from m4d.api.meta import Resource
from m4d.api.parse import SUFFIXES, Document, load_file, load_stream, parse_documents
from m4d.api.registry import KINDS, KindInfo, UnknownKindError, kind_info
from m4d.cli import output
from m4d.cli.context import CliContext, pass_context
from m4d.cluster.batch import apply_all
from m4d.errors import NotFoundError
from m4d.generator.argocd_status import ArgoCDStatus
from m4d.generator.naming import argocd_application_name
from m4d.generator.validate import ARGOCD_GROUP_VERSION
from m4d.gitops.settings import ENV_ARGOCD_NAMESPACE

FIELD_MANAGER = "m4d-cli"
_KIND_HELP = "KIND is a kind, plural or short name: " + ", ".join(
    f"{i.plural} ({', '.join(i.short_names)})" for i in KINDS
)


def _kind(value: str) -> KindInfo:
    try:
        return kind_info(value)
    except UnknownKindError as exc:
        raise click.BadParameter(str(exc), param_hint="KIND") from None


def _read_sources(files: tuple[str, ...], recursive: bool = False) -> list[Document]:
    """Every document of every file, read strictly. A directory gives its .yaml, .yml and .json files (and,
    with `recursive`, those of its subdirectories), as kubectl reads one; a broken link among them is
    refused by name, not skipped."""
    docs: list[Document] = []
    for name in files:
        if name == "-":
            docs.extend(load_stream(sys.stdin.buffer.read(), "<stdin>"))
            continue
        path = Path(name)
        if path.is_dir():
            found = path.rglob("*") if recursive else path.glob("*")
            paths = sorted(p for p in found if p.suffix in SUFFIXES and not p.is_dir())
        else:
            paths = [path]
        for p in paths:
            docs.extend(load_file(p))
    return docs


@click.command("crds")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Write one file per kind here.")
def crds(out: Path | None) -> None:
    """Print the CustomResourceDefinitions of every kind (for `kubectl apply -f -`)."""
    if out is None:
        click.echo(crds_yaml(), nl=False)
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, text in crd_files().items():
        (out / name).write_text(text)
        click.echo(f"wrote {out / name}")


@click.command("apply")
@click.option(
    "-f", "--filename", "files", multiple=True, required=True, help="YAML or JSON file, directory or - (stdin)."
)
@click.option("-R", "--recursive", is_flag=True, help="Also read the subdirectories of a directory given with -f.")
@click.option("-n", "--namespace", default=None, help="Namespace for documents that name none.")
@click.option("--dry-run", is_flag=True, help="Check every document against the hub and store nothing.")
@pass_context
def apply(ctx: CliContext, files: tuple[str, ...], recursive: bool, namespace: str | None, dry_run: bool) -> None:
    """Validate and store resources (YAML or JSON, many documents). All are stored, or none: every document is
    checked against the schemas, then against the hub (a dry run), before anything is written."""
    docs = _read_sources(files, recursive)
    objects = parse_documents(docs, namespace or "default", applying=True)
    if not objects:
        raise click.UsageError("no resources found in the given files")
    results = apply_all(ctx.hub(), list(zip(docs, objects, strict=True)), FIELD_MANAGER, dry_run=dry_run)
    for result in results:
        info = kind_info(type(result.obj))
        suffix = " (dry run)" if dry_run else ""
        click.echo(f"{info.singular}.{info.group}/{result.obj.name} {result.verb}{suffix}")


@click.command("get", epilog=_KIND_HELP)
@click.argument("kind")
@click.argument("name", required=False)
@click.option("-n", "--namespace", help="Namespace (default: default; with --cluster: all of the member's).")
@click.option("-A", "--all-namespaces", is_flag=True, help="List across all namespaces.")
@click.option("-l", "--selector", default=None, help="Label selector, e.g. team=risk,tier!=gold.")
@click.option("-o", "--output", "fmt", type=click.Choice(["table", "wide", "yaml", "json"]), default="table")
@click.option("-w", "--watch", is_flag=True, help="After listing, print each change as it happens (Ctrl-C stops).")
@click.option("--timeout", metavar="DURATION", help="With --watch: stop after this long (e.g. 30s, 5m).")
@click.option("--cluster", metavar="NAME", help="A member's store (embedded hub), e.g. its Blueprints.")
@pass_context
def get(
    ctx: CliContext,
    kind: str,
    name: str | None,
    namespace: str | None,
    all_namespaces: bool,
    selector: str | None,
    fmt: str,
    watch: bool,
    timeout: str | None,
    cluster: str | None,
) -> None:
    """Show resources of a kind (one, or all), as a table, YAML or JSON; with -w, keep following them."""
    info = _kind(kind)
    hub = ctx.store(cluster)
    if namespace is None and cluster is not None and not name:
        all_namespaces = True  # a member's Blueprints live in its destination namespace, whatever that is
    namespace = namespace or "default"
    if watch:
        from m4d.cli.watching import parse_duration, watch_table  # noqa: PLC0415

        deadline = time.monotonic() + parse_duration(timeout) if timeout else None
        ns = None if all_namespaces or not info.namespaced else namespace
        watch_table(hub, info, name, ns, selector, fmt, deadline)
        return
    if timeout:
        raise click.UsageError("--timeout goes with --watch")
    if name:
        items: list[Resource] = [hub.get(info.model, name, namespace if info.namespaced else None)]
    else:
        ns = None if all_namespaces or not info.namespaced else namespace
        items = list(hub.list(info.model, ns, selector).items)
    if fmt in ("yaml", "json"):
        if items:
            click.echo(output.dump(items, fmt, single=bool(name)))
        return
    if not items:
        where = "" if all_namespaces or not info.namespaced else f" in {namespace} namespace"
        ctx.err.print(f"No {info.plural} found{where}.")
        return
    ctx.console.print(output.table(info, items, wide=fmt == "wide", all_namespaces=all_namespaces))


@click.command("describe", epilog=_KIND_HELP)
@click.argument("kind")
@click.argument("name")
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option("--cluster", metavar="NAME", help="A member's store (embedded hub), e.g. one of its Blueprints.")
@pass_context
def describe(ctx: CliContext, kind: str, name: str, namespace: str, cluster: str | None) -> None:
    """Show one resource in detail: metadata, spec, status and every condition with its reason."""
    info = _kind(kind)
    obj = ctx.store(cluster).get(info.model, name, namespace if info.namespaced else None)
    output.describe(ctx.console, info, obj)
    if isinstance(obj, MemberCluster) and cluster is None:
        _describe_delivery(ctx, obj)


def _describe_delivery(ctx: CliContext, cluster: MemberCluster) -> None:
    """What Argo CD says about the cluster's Application: sync, health, last operation, unhealthy Blueprints."""
    namespace = os.environ.get(ENV_ARGOCD_NAMESPACE) or "argocd"
    name = argocd_application_name(cluster.name)
    from m4d.cluster.kube import KubeCluster  # noqa: PLC0415 - start-up cost only when used

    hub = ctx.hub()
    doc = None
    if isinstance(hub, KubeCluster):  # the embedded hub has no Argo CD: its local sync delivers the folders
        with contextlib.suppress(NotFoundError):  # no such Application, or no Argo CD on this hub
            doc = hub.manifests.get(ARGOCD_GROUP_VERSION, "Application", name, namespace)
    if doc is None:
        ctx.console.print(f"[bold]Argo CD:[/]      <none> (no Application {namespace}/{name} on this hub)")
        return
    status = ArgoCDStatus.parse(doc)
    ctx.console.print("[bold]Argo CD:[/]")
    for label, value in status.lines():
        ctx.console.print(f"  {label + ':':<13} {value}", markup=False, highlight=False, soft_wrap=True)


@click.command("delete", epilog=_KIND_HELP)
@click.argument("kind")
@click.argument("name")
@click.option("-n", "--namespace", default="default", show_default=True)
@pass_context
def delete(ctx: CliContext, kind: str, name: str, namespace: str) -> None:
    """Delete a resource (controllers with finalizers clean up first)."""
    info = _kind(kind)
    left = ctx.hub().delete(info.model, name, namespace if info.namespaced else None)
    state = "deleted" if left is None else "marked for deletion (waiting for finalizers)"
    click.echo(f"{info.singular}.{info.group}/{name} {state}")


COMMANDS = [crds, apply, get, describe, delete]
