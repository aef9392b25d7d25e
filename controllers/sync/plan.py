"""Decide what a sync does: desired objects from a cluster folder against live ones → create, update, prune.

Pure: the same snapshot and live state give the same plan. Only objects the sync itself applied (they
carry its applied-revision annotation, its tracking mark) are ever pruned, so anything else on the member
is left alone, even with the generator's managed-by label: Argo CD, which tracks what it applied by its
own annotation, does the same (the differential test in tests/integration/argocd/ holds the two together).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from m4d.api.meta import Resource
from m4d.api.parse import Document, parse_document
from m4d.api.strict import decode, yaml_documents
from m4d.errors import FieldError, InvalidError

MANAGED_BY_KEY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "m4d"
REVISION_ANNOTATION = "m4d.dev/applied-revision"

# Embedded member stores hold the platform's kinds only; the namespace file is for real clusters
# (namespace_manifests gives it to the sync, which applies it on a Kubernetes member).
_SKIPPED = {("v1", "Namespace")}


@dataclass
class SyncPlan:
    cluster: str
    create: list[Resource] = field(default_factory=list)
    update: list[Resource] = field(default_factory=list)
    prune: list[Resource] = field(default_factory=list)
    unchanged: int = 0

    @property
    def empty(self) -> bool:
        return not (self.create or self.update or self.prune)

    def summary(self) -> str:
        return (
            f"{len(self.create)} created, {len(self.update)} updated, {len(self.prune)} pruned, "
            f"{self.unchanged} unchanged"
        )


# Parsed manifests by (path, content): a pass after a commit parses only the files the commit changed,
# not the whole folder again (a folder of thousands of Blueprints). Entries are shared: never modified.
_PARSED_FILES = 1 << 15


@lru_cache(maxsize=_PARSED_FILES)
def _parsed(path: str, data: bytes) -> tuple[tuple[Any, ...], tuple[Resource, ...], tuple[FieldError, ...]]:
    """(the file's documents, the objects it declares, what is wrong with it)"""
    try:
        docs = tuple(d.body for d in yaml_documents(decode(data, path), path) if d.body is not None)
    except InvalidError as exc:  # not UTF-8, not YAML, too deep or too large: anyone may push to Git
        return (), (), tuple(FieldError(path, e.message) for e in exc.errors)
    out: list[Resource] = []
    problems: list[FieldError] = []
    for index, body in enumerate(docs, start=1):
        if isinstance(body, dict) and (body.get("apiVersion"), body.get("kind")) in _SKIPPED:
            continue
        try:
            out.append(parse_document(Document(path, index, body)))
        except InvalidError as exc:
            problems += [FieldError(f"{exc.what}: {e.path}" if e.path else exc.what, e.message) for e in exc.errors]
    return docs, tuple(out), tuple(problems)


def cluster_prefix(cluster: str) -> str:
    return f"clusters/{cluster}/"


def _manifests(files: dict[str, bytes], cluster: str) -> list[str]:
    return sorted(p for p in files if p.startswith(cluster_prefix(cluster)) and p.endswith((".yaml", ".yml")))


def desired_objects(files: dict[str, bytes], cluster: str) -> list[Resource]:
    """Parse every manifest of one cluster folder; a broken file fails the whole sync of that cluster.
    The objects returned are shared with later passes: copy before changing one."""
    out: list[Resource] = []
    problems: list[FieldError] = []
    for path in _manifests(files, cluster):
        _, objects, wrong = _parsed(path, files[path])
        out += objects
        problems += wrong
    if problems:
        raise InvalidError(f"cluster folder {cluster_prefix(cluster)}", problems)
    return out


def namespace_manifests(files: dict[str, bytes], cluster: str) -> list[dict[str, object]]:
    """The Namespace objects of one cluster folder (a real member needs them before its Blueprints)."""
    out: list[dict[str, object]] = []
    for path in _manifests(files, cluster):
        docs, _, _ = _parsed(path, files[path])  # a broken file: desired_objects reports it
        out += [
            copy.deepcopy(d) for d in docs if isinstance(d, dict) and (d.get("apiVersion"), d.get("kind")) in _SKIPPED
        ]
    return out


def _same(desired: Resource, live: Resource) -> bool:
    live_annotations = {k: v for k, v in live.metadata.annotations.items() if k != REVISION_ANNOTATION}
    return (
        desired.model_dump(include={"spec"}) == live.model_dump(include={"spec"})
        and desired.metadata.labels == live.metadata.labels
        and desired.metadata.annotations == live_annotations
    )


def plan_sync(cluster: str, desired: Sequence[Resource], live: Sequence[Resource]) -> SyncPlan:
    plan = SyncPlan(cluster)
    live_by_key = {(type(o), o.metadata.namespace, o.name): o for o in live}
    wanted = set()
    for obj in desired:
        key = (type(obj), obj.metadata.namespace, obj.name)
        wanted.add(key)
        current = live_by_key.get(key)
        if current is None:
            plan.create.append(obj)
        elif _same(obj, current):
            plan.unchanged += 1
        else:
            plan.update.append(obj)
    for key, obj in sorted(live_by_key.items(), key=lambda kv: (kv[0][1] or "", kv[0][2])):
        tracked = REVISION_ANNOTATION in obj.metadata.annotations
        if key not in wanted and tracked and obj.metadata.deletion_timestamp is None:
            plan.prune.append(obj)
    return plan
