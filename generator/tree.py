"""The generator's entry points: Plotters + MemberClusters → {path: file bytes}. Pure and deterministic.

`render_tree` gives the complete desired state of the repository's generated folders. The controller
also uses the two halves on their own: `render_plotter` (one application's Blueprints, for a change
that touches one Plotter) and `render_clusters` (the cluster folders and Argo CD objects).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from m4d.api.blueprint import BlueprintSpec, spec_hash
from m4d.api.cluster import MemberCluster
from m4d.api.plotter import Plotter
from m4d.errors import M4DError, PermanentError
from m4d.generator import argocd
from m4d.generator.blueprints import blueprint_manifest
from m4d.generator.config import RenderConfig
from m4d.generator.naming import (
    HEALTH_PATCH_PATH,
    PROJECT_PATH,
    ROOT_APP_PATH,
    application_path,
    blueprint_name,
    blueprint_path,
    namespace_path,
)
from m4d.generator.params import plotter_params
from m4d.generator.yamlfmt import dump


@dataclass(frozen=True)
class Origin:
    """What a generated file is for: the commit message and the Plotter status are written from this."""

    kind: str
    cluster: str | None = None
    application: str | None = None  # namespace/name
    plotter: str | None = None  # namespace/name
    digest: str | None = None  # a Blueprint's spec digest (m4d.api.blueprint.spec_hash), as agents report it


@dataclass
class Rendered:
    files: dict[str, bytes] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)

    def add(self, path: str, content: bytes, origin: Origin) -> None:
        self.files[path] = content
        self.origins[path] = origin

    def update(self, other: Rendered) -> None:
        self.files.update(other.files)
        self.origins.update(other.origins)


@dataclass
class TreeResult:
    """The complete tree, less the Plotters that could not be rendered (with why, per Plotter key)."""

    rendered: Rendered
    errors: dict[str, M4DError] = field(default_factory=dict)


def by_name(clusters: Iterable[MemberCluster]) -> dict[str, MemberCluster]:
    return {c.name: c for c in sorted(clusters, key=lambda c: c.name)}


def render_plotter(
    plotter: Plotter, clusters: Mapping[str, MemberCluster], keys: Callable[[str], bytes] | None = None
) -> Rendered:
    """One Blueprint file per cluster the Plotter's steps run on, signed with that member's key from
    `keys` (RenderConfig.keys). Raises InvalidError for a bad plan."""
    out = Rendered()
    app = plotter.spec.application
    for params in plotter_params(plotter, clusters):
        manifest = blueprint_manifest(params, keys(params.cluster) if keys is not None else None)
        digest = spec_hash(BlueprintSpec.model_validate(manifest["spec"]))
        out.add(
            blueprint_path(params.cluster, params.name),
            dump(manifest),
            Origin("Blueprint", params.cluster, f"{app.namespace}/{app.name}", plotter.key, digest),
        )
    return out


def plotter_paths(plotter: Plotter, clusters: Iterable[str]) -> set[str]:
    """Every path the Plotter could own on these clusters (a Blueprint's name depends on the application
    only): the files to remove when it goes, or to leave alone when it cannot be rendered."""
    name = blueprint_name(plotter.spec.application)
    return {blueprint_path(c, name) for c in clusters}


def render_clusters(clusters: Sequence[MemberCluster], config: RenderConfig) -> Rendered:
    """Each member's folder (its namespace) and Argo CD registration, the project and the bootstrap."""
    out = Rendered()
    ordered = sorted(clusters, key=lambda c: c.name)
    for c in ordered:
        out.add(namespace_path(c.name), dump(argocd.member_namespace(c)), Origin("Namespace", c.name))
        out.add(application_path(c.name), dump(argocd.cluster_application(config, c)), Origin("Application", c.name))
    out.add(PROJECT_PATH, dump(argocd.app_project(config, ordered)), Origin("AppProject"))
    out.add(ROOT_APP_PATH, dump(argocd.root_application(config)), Origin("Application"))
    out.add(HEALTH_PATCH_PATH, dump(argocd.health_check_patch(config)), Origin("ConfigMap"))
    return out


def render_tree(plotters: Sequence[Plotter], clusters: Sequence[MemberCluster], config: RenderConfig) -> TreeResult:
    """The whole generated part of the repository.

    A Plotter that cannot be rendered (unknown cluster, a credential in a connection, two Plotters for
    one application) is reported in `errors` and left out; the rest of the tree is still complete.
    Plotters being deleted are left out: their Blueprints are to go.
    """
    members = by_name(clusters)
    result = TreeResult(render_clusters(list(members.values()), config))
    owner: dict[str, str] = {}
    for plotter in sorted(plotters, key=lambda p: (p.metadata.namespace or "", p.metadata.name)):
        if plotter.metadata.deletion_timestamp is not None:
            continue
        try:
            part = render_plotter(plotter, members, config.keys)
        except M4DError as exc:
            result.errors[plotter.key] = exc
            continue
        clash = next((owner[p] for p in part.files if p in owner), None)
        if clash is not None:
            app = plotter.spec.application
            result.errors[plotter.key] = PermanentError(
                f"application {app.namespace}/{app.name} is already planned by Plotter {clash}; "
                "one application has one Plotter",
                reason="DuplicatePlotter",
            )
            continue
        owner.update(dict.fromkeys(part.files, plotter.key))
        result.rendered.update(part)
    return result
