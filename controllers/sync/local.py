"""Apply the GitOps repository to member clusters (embedded stores or real ones), as Argo CD would.

Each pass reads the branch head, and for every registered member cluster applies its folder
(`clusters/<name>/`) with automated sync, prune and self-heal semantics: objects in the folder are
created or brought back in line, managed objects no longer in it are deleted. Objects it writes carry
the revision that last changed them; the member's `MemberCluster.status.appliedRevision` says which
revision the member has caught up with.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from m4d.api.cluster import MemberCluster, MemberClusterStatus
from m4d.api.meta import Resource
from m4d.cluster.interface import Cluster
from m4d.controllers.sync.plan import (
    REVISION_ANNOTATION,
    SyncPlan,
    cluster_prefix,
    desired_objects,
    namespace_manifests,
    plan_sync,
)
from m4d.errors import ConflictError, M4DError, NotFoundError, StoreCorruptError
from m4d.git.snapshot import head_revision, read_snapshot

log = logging.getLogger("m4d.sync")

# Drift on a member is repaired within this many seconds even when the repository does not move.
SELF_HEAL_INTERVAL = 5.0
FIELD_MANAGER = "m4d-sync"


def ensure_namespaces(store: Cluster, docs: list[dict[str, object]]) -> None:
    """Apply the folder's Namespace on a Kubernetes member (its Blueprints land in it); embedded member
    stores have no namespaces to create."""
    if not docs:
        return
    from m4d.cluster.kube import KubeCluster  # noqa: PLC0415 - only a real member pays for the client

    if isinstance(store, KubeCluster):
        for doc in docs:
            store.manifests.apply(doc, field_manager=FIELD_MANAGER)


@dataclass
class LocalSync:
    repo: Path
    hub: Cluster
    member: Callable[[str], Cluster]
    branch: str = "main"
    on_sync: Callable[[str, str, SyncPlan], None] | None = None
    _synced: dict[str, str] = field(default_factory=dict)

    def _kinds(self, desired: list[Resource]) -> set[type[Resource]]:
        from m4d.api.blueprint import Blueprint  # noqa: PLC0415 - the kinds a member folder holds

        return {Blueprint} | {type(o) for o in desired}

    def sync_cluster(self, name: str, revision: str, files: dict[str, bytes]) -> SyncPlan:
        store = self.member(name)
        desired = desired_objects(files, name)
        ensure_namespaces(store, namespace_manifests(files, name))
        live: list[Resource] = []
        for kind in sorted(self._kinds(desired), key=lambda k: k.KIND):
            live.extend(store.list(kind).items)
        plan = plan_sync(name, desired, live)
        for obj in [*plan.create, *plan.update]:
            annotated = obj.model_copy(deep=True)
            annotated.metadata.annotations[REVISION_ANNOTATION] = revision
            store.apply(annotated, field_manager=FIELD_MANAGER)
        for obj in plan.prune:
            with contextlib.suppress(NotFoundError):  # already gone: that is what pruning wants
                store.delete(type(obj), obj.name, obj.metadata.namespace)
        self._record_revision(name, revision)
        return plan

    def _record_revision(self, name: str, revision: str) -> None:
        for _ in range(5):
            try:
                mc = self.hub.get(MemberCluster, name)
            except NotFoundError:
                return
            status = mc.status or MemberClusterStatus()
            if status.applied_revision == revision:
                return
            mc.status = status.model_copy(update={"applied_revision": revision})
            try:
                self.hub.update_status(mc)
                return
            except ConflictError:
                continue

    def sync_once(self, force: bool = False) -> dict[str, SyncPlan]:
        """One pass over every registered member; returns the plan applied to each (errors are logged)."""
        revision = head_revision(self.repo, self.branch)
        if revision is None:
            return {}
        snapshot = read_snapshot(self.repo, revision, "clusters/")
        results: dict[str, SyncPlan] = {}
        for mc in self.hub.list(MemberCluster).items:
            name = mc.name
            if not force and self._synced.get(name) == revision:
                continue
            files = {p: b for p, b in snapshot.files.items() if p.startswith(cluster_prefix(name))}
            try:
                plan = self.sync_cluster(name, revision, files)
            except StoreCorruptError:
                raise  # a damaged store stops the sync, once, with how to repair it
            except M4DError as exc:
                log.warning("sync of cluster %s at %s failed: %s", name, revision[:10], exc)
                continue
            self._synced[name] = revision
            results[name] = plan
            if not plan.empty or self.on_sync is not None:
                log.info("synced %s to %s: %s", name, revision[:10], plan.summary())
            if self.on_sync is not None:
                self.on_sync(name, revision, plan)
        return results

    def run(self, stop: threading.Event, interval: float = 0.2) -> None:
        """Follow the branch until stopped; a full compare every SELF_HEAL_INTERVAL repairs drift."""
        last_full = 0.0
        while not stop.is_set():
            full = time.monotonic() - last_full >= SELF_HEAL_INTERVAL
            try:
                self.sync_once(force=full)
            except StoreCorruptError:
                raise
            except M4DError as exc:
                log.warning("sync pass failed: %s", exc)
            if full:
                last_full = time.monotonic()
            stop.wait(interval)
