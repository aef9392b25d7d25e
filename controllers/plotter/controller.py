"""The Plotter controller (part of `m4d hub run`): watch Plotters → generate → commit/push → status.

decide: a reconcile renders its Plotter's part of the tree (its Blueprints, its absence on clusters it
left, and the cluster registrations), so its cost follows that application.
act: in direct mode the change goes to the commit loop (batch.py), which commits every pending change
once per short window in one commit and wakes each Plotter; the Plotter's next reconcile finds its
change written and returns its status (status.py, pure). In review mode each Plotter's change is its
own pull request, written in its reconcile.
A full sync of the whole tree (every Plotter, every cluster; removing leftovers, undoing hand edits)
runs in the commit loop on start, when the branch moved outside m4d (the loop looks at its head every
`drift_interval` seconds, drift.py; a write notices too), when a member cluster goes away, and every
`resync_period`; it is computed from the store while the writer holds the branch, never from a list
older than the last write. Deleting a Plotter removes its Blueprints in a commit
before its finalizer is released.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from pydantic import BaseModel

from m4d.api.application import M4DApplication
from m4d.api.cluster import MemberCluster
from m4d.api.plotter import Plotter, PlotterStatus
from m4d.cluster.interface import Cluster
from m4d.controllers.plotter.batch import CommitLoop, Written, change_digest
from m4d.controllers.plotter.drift import BranchWatch
from m4d.controllers.plotter.status import answered, committed, committed_status, repository_checks
from m4d.errors import NotFoundError
from m4d.generator.change import Change
from m4d.generator.changes import full_change, plotter_change, removal_change
from m4d.generator.config import RenderConfig
from m4d.generator.tree import Rendered, plotter_paths, render_clusters
from m4d.gitops.settings import GitOpsSettings
from m4d.gitops.writer import GitOpsWriter, WriteResult
from m4d.runtime.controller import Controller, ObjectKey, Outcome, Watch
from m4d.runtime.indexers import APPLICATION, app_key

log = logging.getLogger("m4d.controllers.plotter")

FINALIZER = "gitops.m4d.dev/blueprints"

SYNC_ON_START = "Sync on start: every Plotter and member cluster on the hub rendered again."
SYNC_PERIODIC = "Periodic sync: every Plotter and member cluster on the hub rendered again."
SYNC_FOREIGN = "Sync: the branch was changed outside m4d; the generated folders are brought back to the hub's state."
SYNC_CLUSTER_GONE = "Sync: a member cluster was removed from the hub."
SYNC_CLUSTER_CAME = "Sync: a member cluster was registered or changed on the hub."
# A deleted Plotter waits for its removal to be committed (the commit loop wakes it); a safety net.
FINALIZE_CHECK = 30.0


def _clusters_key(clusters: Sequence[MemberCluster]) -> str:
    return "|".join(f"{c.name}:{c.metadata.generation}:{c.metadata.uid}" for c in clusters)


@dataclass
class PlotterController(Controller[Plotter]):
    """`PlotterController(hub, writer, config)`, or `PlotterController.for_hub(hub, settings)`."""

    writer: GitOpsWriter
    config: RenderConfig
    resync_period: float = 600.0
    review_poll: float = 30.0
    commit_window: float = 0.2  # direct mode: changes arriving within this long share a commit
    drift_interval: float = 2.0  # direct mode: seconds between looks at the branch head (0: at writes only)
    _cluster_files: tuple[str, Rendered] | None = field(init=False, default=None)
    # Plotter → (what it was rendered from, its change) while the change waits to be written.
    _rendered: dict[ObjectKey, tuple[tuple[object, ...], Change]] = field(init=False, default_factory=dict)
    loop: CommitLoop = field(init=False)

    def __post_init__(self) -> None:
        self.kind = Plotter
        self.name = "plotter"
        self.finalizer = FINALIZER
        self.loop = CommitLoop(
            self.writer,
            self.enqueue,
            self._full_sync,
            window=self.commit_window,
            resync_period=self.resync_period,
            periodic_reason=SYNC_PERIODIC,
            foreign_reason=SYNC_FOREIGN,
            # Review mode: the branch moves by merges, which the pull requests' polls follow.
            look=BranchWatch(self.writer, self._foreign).look if self.writer.mode == "direct" else None,
            look_every=self.drift_interval,
        )

    def _foreign(self, head: str) -> None:
        self.loop.schedule_sync(SYNC_FOREIGN)

    def background(self) -> Sequence[Callable[[threading.Event], None]]:
        return [lambda stop: self.loop.run(stop, SYNC_ON_START)]

    def busy(self) -> bool:
        return self.loop.busy()

    def own_status(self, stored: BaseModel | None, decided: BaseModel) -> BaseModel:
        assert isinstance(decided, PlotterStatus) and (stored is None or isinstance(stored, PlotterStatus))
        return committed(stored, decided)

    @classmethod
    def for_hub(
        cls,
        hub: Cluster,
        settings: GitOpsSettings,
        resync_period: float = 600.0,
        review_poll: float = 30.0,
        drift_interval: float = 2.0,
    ) -> PlotterController:
        writer = settings.open_writer()
        config = settings.render_config()
        return cls(
            hub, writer, config, resync_period=resync_period, review_poll=review_poll, drift_interval=drift_interval
        )

    def close(self) -> None:
        self.writer.close()

    # -- what wakes us --------------------------------------------------------------------------

    def watches(self) -> Sequence[Watch]:
        return (Watch(MemberCluster, self._cluster_changed, changed=self._cluster_spec_changed),)

    @staticmethod
    def _cluster_spec_changed(old: MemberCluster, new: MemberCluster) -> bool:
        """Status-only changes (heartbeats) wake nobody."""
        return (old.metadata.generation, old.metadata.deletion_timestamp) != (
            new.metadata.generation,
            new.metadata.deletion_timestamp,
        )

    def _cluster_changed(self, cluster: MemberCluster) -> list[ObjectKey]:
        """A member's spec changed, it came or it went: every Plotter is reconciled (registrations and
        placement may change), and a full sync writes the registrations even when no Plotter does (a
        full sync that ran before this cluster was in the cache, e.g. one undoing the onboarding's own
        commit as a foreign change, took its folder out)."""
        try:
            self.read.get(MemberCluster, cluster.name)
            gone = cluster.metadata.deletion_timestamp is not None
        except NotFoundError:
            gone = True
        # Its folder and registration go, or come, in a full sync.
        self.loop.schedule_sync(SYNC_CLUSTER_GONE if gone else SYNC_CLUSTER_CAME)
        return [ObjectKey.of(p) for p in self.read.list(Plotter)]

    # -- reconcile ------------------------------------------------------------------------------

    def _clusters(self) -> list[MemberCluster]:
        return [c for c in self.read.list(MemberCluster) if c.metadata.deletion_timestamp is None]

    def _registrations(self, clusters: Sequence[MemberCluster]) -> Rendered:
        """The cluster folders and Argo CD objects, rendered again only when a cluster spec changed."""
        key = _clusters_key(clusters)
        if self._cluster_files is None or self._cluster_files[0] != key:
            self._cluster_files = (key, render_clusters(clusters, self.config))
        return self._cluster_files[1]

    def _full_sync(self, reason: str) -> WriteResult:
        errors: dict[str, Exception] = {}

        def compute() -> Change:
            # Read from the store once the writer holds the branch: a cache a moment behind, or a list read
            # before another hub's write, would undo what was just committed.
            plotters = self.cluster.list(Plotter).items
            clusters = [c for c in self.cluster.list(MemberCluster).items if c.metadata.deletion_timestamp is None]
            change, found = full_change(plotters, clusters, self.config, reason)
            errors.update(found)
            if self.writer.mode == "review":
                # Each Plotter's change is reviewed on its own branch (and a deletion on the finalizer's):
                # the sync's pull request carries only registrations and leftovers.
                names = [c.name for c in clusters]
                owned = set().union(*(plotter_paths(p, names) for p in plotters))
                files = {p: c for p, c in change.files.items() if p not in owned}
                change = replace(change, files=files, preserve=change.preserve | owned)
            return change

        result = self.writer.write_computed(compute)
        if result.commit:
            log.info("full sync committed %s (%d files changed)", result.commit[:12], len(result.changed))
        for key, error in sorted(errors.items()):
            log.info("full sync left %s as it is: %s", key, error)
        return result

    def _change(
        self, key: ObjectKey, obj: Plotter, clusters: Sequence[MemberCluster], registrations: Rendered, review: bool
    ) -> Change:
        """The Plotter's change, rendered once while it waits for the commit loop: the reconcile that
        finds it written renders the same Plotter on the same clusters, so it reuses the render."""
        if review:
            return plotter_change(obj, clusters, self.config, registrations)
        stamp = (obj.metadata.uid, obj.metadata.generation, _clusters_key(clusters), id(registrations))
        known = self._rendered.get(key)
        if known is not None and known[0] == stamp:
            return known[1]
        change = plotter_change(obj, clusters, self.config, registrations)
        self._rendered[key] = (stamp, change)
        return change

    def _written(self, key: ObjectKey, change: Change) -> Written | None:
        """The write of exactly this change, if done; else the change goes to the commit loop."""
        done = self.loop.written(str(key), change_digest(change))
        if done is None:
            self.loop.submit(key, change)
        return done

    def reconcile(self, obj: Plotter) -> Outcome:
        clusters = self._clusters()
        review = self.writer.mode == "review"
        # In review mode a Plotter's pull request holds its Blueprints only; registrations have their own.
        registrations = Rendered() if review else self._registrations(clusters)
        key = ObjectKey.of(obj)
        change = self._change(key, obj, clusters, registrations, review)
        if review:
            result = self.writer.write(replace(change, applications=self._application(obj)))
            if result.foreign:
                log.info("%s: the branch was moved by another writer; a full sync follows", obj.key)
                self.loop.schedule_sync(SYNC_FOREIGN)
        else:
            done = self._written(key, change)
            if done is None:
                return Outcome()  # the commit loop wakes it once the change is written
            self._rendered.pop(key, None)
            if done.error is not None:
                raise done.error
            assert done.result is not None
            result = done.result
        mine = plotter_paths(obj, [c.name for c in clusters])  # once: each file would cost a path per member
        own = {p: c for p, c in change.files.items() if p in mine}
        blueprints = {p: o for p, o in change.origins.items() if o.kind == "Blueprint" and o.cluster}
        placed = {o.cluster: p for p, o in blueprints.items() if o.cluster}
        digests = {o.cluster: o.digest for o in blueprints.values() if o.cluster and o.digest}
        # Observe first (does an older revision still hold this Plotter's files?), then decide, purely.
        head = result.revision
        kept = {
            (rev, files): self.writer.unchanged_since(rev, dict(files), head)
            for rev, files in repository_checks(obj, own, placed, result)
        }
        status = committed_status(obj, own, placed, result, answered(kept), digests)
        # Drift in the repository is repaired by the full sync; a pull request is looked at again.
        return Outcome(status=status, requeue_after=self.review_poll if result.review is not None else None)

    def _application(self, plotter: Plotter) -> dict[str, M4DApplication]:
        """The application a review description explains (its intent, role and policy decisions)."""
        ref = plotter.spec.application
        try:
            app = self.cluster.get(M4DApplication, ref.name, ref.namespace)
        except NotFoundError:
            return {}
        return {f"{ref.namespace}/{ref.name}": app}

    def finalize(self, obj: Plotter) -> Outcome:
        self._rendered.pop(ObjectKey.of(obj), None)
        app = obj.spec.application
        heirs = [
            p.key
            for p in self.read.by_index(Plotter, APPLICATION, app_key(app.namespace, app.name))
            if p.key != obj.key and p.metadata.deletion_timestamp is None
        ]
        if heirs:
            log.info("%s deleted; its application's Blueprints now belong to %s", obj.key, ", ".join(heirs))
            return Outcome()
        names = [c.name for c in self.read.list(MemberCluster)]
        change = removal_change(obj, names, f"Plotter {obj.key} was deleted.")
        if self.writer.mode == "review":
            if self.writer.write(change).review is not None:
                return Outcome(requeue_after=self.review_poll)  # the removal is delivered once merged
            return Outcome()
        done = self._written(ObjectKey.of(obj), change)
        if done is None:
            return Outcome(requeue_after=FINALIZE_CHECK)  # woken once written; looked at again meanwhile
        self.loop.forget(str(ObjectKey.of(obj)))
        if done.error is not None:
            raise done.error
        return Outcome()
