"""The aggregator controller: member reports and cluster liveness → Plotter status (phases, ready, endpoints).

It shares Plotters with the Plotter controller, which records what was committed per cluster (the
Blueprint's name and digest); this one records what the members made of it. Each owns its own fields
of the status (`own_status`), so neither writes the other's.

decide (status.aggregate, pure) from observations read in the runtime's cache: the Plotter's committed
clusters, the MemberClusters' Ready condition (the cluster registry's verdict from heartbeats) and the
application's BlueprintReports. Nothing is rendered again: the digests to match are the committed ones.

Wakes on: a report of the Plotter's application; a member going Ready or not Ready (not on every
heartbeat); a change of what the Plotter controller committed (not on its own writes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel

from m4d.api.cluster import MemberCluster
from m4d.api.meta import find_condition
from m4d.api.plotter import Plotter, PlotterStatus
from m4d.api.report import BlueprintReport
from m4d.controllers.aggregator.status import aggregate, aggregated
from m4d.controllers.plotter.status import COMMITTED_CLUSTER_FIELDS
from m4d.errors import NotFoundError
from m4d.runtime.controller import Controller, ObjectKey, Outcome, Watch
from m4d.runtime.indexers import APPLICATION, CLUSTER, app_key


def _ready(cluster: MemberCluster) -> tuple[str | None, str | None]:
    ready = find_condition(cluster.status.conditions, "Ready") if cluster.status else None
    return (ready.status, ready.reason) if ready is not None else (None, None)


def _committed(status: PlotterStatus | None) -> dict[str, tuple[object, ...]]:
    clusters = status.clusters if status is not None else {}
    return {n: tuple(getattr(s, f) for f in COMMITTED_CLUSTER_FIELDS) for n, s in clusters.items()}


@dataclass
class AggregatorController(Controller[Plotter]):
    def __post_init__(self) -> None:
        self.kind = Plotter
        self.name = "aggregator"
        # The Plotter controller's status writes (a new commit) are exactly what this one must see.
        self.reconcile_on_status = True

    def watches(self) -> Sequence[Watch]:
        return (
            Watch(BlueprintReport, self._report_changed),
            Watch(MemberCluster, self._cluster_changed, changed=self._liveness_changed),
        )

    def wakes_on_status(self, old: Plotter, new: Plotter) -> bool:
        """Only what the Plotter controller committed; this controller's own writes change nothing it reads."""
        return _committed(old.status) != _committed(new.status)

    @staticmethod
    def _liveness_changed(old: MemberCluster, new: MemberCluster) -> bool:
        return _ready(old) != _ready(new)

    def _report_changed(self, report: BlueprintReport) -> list[ObjectKey]:
        app = report.spec.application
        return [ObjectKey.of(p) for p in self.read.by_index(Plotter, APPLICATION, app_key(app.namespace, app.name))]

    def _cluster_changed(self, cluster: MemberCluster) -> list[ObjectKey]:
        return [ObjectKey.of(p) for p in self.read.by_index(Plotter, CLUSTER, cluster.name)]

    def own_status(self, stored: BaseModel | None, decided: BaseModel) -> BaseModel:
        assert isinstance(decided, PlotterStatus) and (stored is None or isinstance(stored, PlotterStatus))
        return aggregated(stored, decided)

    def reconcile(self, obj: Plotter) -> Outcome:
        current = obj.status or PlotterStatus()
        if not current.clusters:
            return Outcome()  # nothing committed yet: the Plotter controller goes first
        app = obj.spec.application
        clusters = [c for c in (self._cluster(name) for name in current.clusters) if c is not None]
        reports = self.read.by_index(BlueprintReport, APPLICATION, app_key(app.namespace, app.name))
        return Outcome(status=aggregate(obj, current, clusters, reports))

    def _cluster(self, name: str) -> MemberCluster | None:
        try:
            return self.read.get(MemberCluster, name)
        except NotFoundError:  # not registered: aggregate says so
            return None
