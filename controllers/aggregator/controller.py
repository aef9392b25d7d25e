"""The aggregator controller: member reports and heartbeats → Plotter status (phases, ready, endpoints).

It shares Plotters with the Plotter controller, which records what was committed per cluster; this
one records what the members made of it. Each writes only its own fields and starts from the stored
status, so their writes never undo each other (a lost race is a conflict, retried at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from m4d.api.blueprint import spec_hash
from m4d.api.cluster import MemberCluster
from m4d.api.plotter import Plotter, PlotterStatus
from m4d.api.report import BlueprintReport
from m4d.controllers.aggregator.status import aggregate
from m4d.errors import M4DError
from m4d.generator.blueprints import blueprint
from m4d.generator.params import plotter_params
from m4d.runtime.controller import Controller, ObjectKey, Outcome, Watch
from m4d.runtime.indexers import APPLICATION, CLUSTER, app_key


def expected_hashes(plotter: Plotter, clusters: Sequence[MemberCluster]) -> dict[str, str]:
    """cluster → digest of the Blueprint the generator makes for it (what the member must report)."""
    try:
        params = plotter_params(plotter, {c.name: c for c in clusters})
    except M4DError:
        return {}  # a plan the generator refuses has no Blueprints; the Plotter controller says why
    return {p.cluster: spec_hash(blueprint(p).spec) for p in params}


@dataclass
class AggregatorController(Controller[Plotter]):
    def __post_init__(self) -> None:
        self.kind = Plotter
        self.name = "aggregator"
        # The Plotter controller's status writes (a new commit) are exactly what this one must see.
        self.reconcile_on_status = True

    def watches(self) -> Sequence[Watch]:
        return (Watch(BlueprintReport, self._report_changed), Watch(MemberCluster, self._cluster_changed))

    def _report_changed(self, report: BlueprintReport) -> list[ObjectKey]:
        app = report.spec.application
        return [ObjectKey.of(p) for p in self.read.by_index(Plotter, APPLICATION, app_key(app.namespace, app.name))]

    def _cluster_changed(self, cluster: MemberCluster) -> list[ObjectKey]:
        return [ObjectKey.of(p) for p in self.read.by_index(Plotter, CLUSTER, cluster.name)]

    def reconcile(self, obj: Plotter) -> Outcome:
        current = obj.status or PlotterStatus()
        if not current.clusters:
            return Outcome()  # nothing committed yet: the Plotter controller goes first
        clusters = self.read.list(MemberCluster)
        hashes = expected_hashes(obj, clusters)
        committed = {
            name: state.model_copy(update={"spec_hash": hashes.get(name, state.spec_hash)})
            for name, state in current.clusters.items()
        }
        app = obj.spec.application
        reports = self.read.by_index(BlueprintReport, APPLICATION, app_key(app.namespace, app.name))
        # A member's liveness is the cluster registry's verdict, on the MemberCluster watched here.
        status = aggregate(obj, current.model_copy(update={"clusters": committed}), clusters, reports)
        return Outcome(status=status)
