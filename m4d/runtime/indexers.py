"""The cache's standard indexes: by application, by member cluster, by owner.

    application  "<namespace>/<name>" of the M4DApplication an object serves (the application itself,
                 its Plotter, its Blueprints and their reports)
    cluster      the member clusters an object is about (a Plotter's steps and committed clusters, a
                 Blueprint's or report's cluster)
    owner        the uids in an object's ownerReferences

Mappers and reconciles ask `read.by_index(Plotter, APPLICATION, "ns/name")` instead of listing a kind
and filtering it, so what they cost follows the objects they need, not how many exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from m4d.api.application import M4DApplication
from m4d.api.blueprint import Blueprint
from m4d.api.meta import Resource
from m4d.api.plotter import AppRef, Plotter
from m4d.api.report import BlueprintReport
from m4d.runtime.cache import Indexer

APPLICATION = "application"
CLUSTER = "cluster"
OWNER = "owner"


def app_key(namespace: str | None, name: str) -> str:
    return f"{namespace or 'default'}/{name}"


def _ref(ref: AppRef) -> list[str]:
    return [app_key(ref.namespace, ref.name)]


def by_owner(obj: Resource) -> Iterable[str]:
    return [ref.uid for ref in obj.metadata.owner_references if ref.uid]


def _application(obj: Resource) -> Iterable[str]:
    if isinstance(obj, M4DApplication):
        return [app_key(obj.metadata.namespace, obj.name)]
    if isinstance(obj, Plotter | Blueprint | BlueprintReport):
        return _ref(obj.spec.application)
    return []


def _cluster(obj: Resource) -> Iterable[str]:
    if isinstance(obj, Plotter):
        placed = {step.cluster for flow in obj.spec.flows for step in flow.steps}
        committed = set(obj.status.clusters) if obj.status is not None else set()
        return sorted(placed | committed)
    if isinstance(obj, Blueprint | BlueprintReport):
        return [obj.spec.cluster]
    return []


_BY_KIND: dict[type[Resource], dict[str, Any]] = {
    M4DApplication: {APPLICATION: _application},
    Plotter: {APPLICATION: _application, CLUSTER: _cluster},
    Blueprint: {APPLICATION: _application, CLUSTER: _cluster},
    BlueprintReport: {APPLICATION: _application, CLUSTER: _cluster},
}


def indexers_for(kind: type[Resource]) -> Mapping[str, Indexer[Any]]:
    """The indexes every cache of `kind` keeps."""
    return {OWNER: by_owner, **_BY_KIND.get(kind, {})}
