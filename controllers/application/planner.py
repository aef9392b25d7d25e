"""The planner: a pure function from an application and what was observed to a Plotter and a status.

    plan(app, assets, answers, modules, clusters, storage, taxonomy) -> Plan

`assets` holds the catalog's answer per asset id (or the failure that stood in for one), `answers` the
policy manager's answers gathered so far (by `PolicyRequest.key()`), and the rest are the hub's
resources. Nothing here does I/O or reads a clock, and every input is sorted before use: the same inputs
give the same Plotter, byte for byte. Which questions matter depends on earlier answers (a read denied
in one geography asks about the next, then about copies), so a plan may come back with
`unanswered` questions: the controller asks those and plans again (gather.py) until none are left.

The Plotter carries every asset that is Ready. While an asset's outcome hangs on a temporary failure
(a connector that is down) `keep_plotter` asks the controller to leave the current Plotter as it is
rather than take running flows away because a dependency blinked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from m4d.api.application import AssetState, Consideration, M4DApplication
from m4d.api.cluster import MemberCluster
from m4d.api.module import M4DModule
from m4d.api.plotter import AppRef, PlotterSpec
from m4d.api.storage import M4DStorageAccount
from m4d.connectors.catalog.model import AssetInfo
from m4d.connectors.policy.model import PolicyDecision, PolicyRequest
from m4d.controllers.application.candidates import Failure, cluster_offline, module_unready
from m4d.controllers.application.enforceable import asset_id_problem
from m4d.controllers.application.flows import FlowPlanner
from m4d.controllers.application.record import AssetRecord
from m4d.controllers.application.setting import AnswerKey, Answers, Setting
from m4d.controllers.registry.liveness import cluster_lost
from m4d.taxonomy import Taxonomy
from m4d.taxonomy.resources import check_application, check_data_interface, check_module, check_storage


@dataclass
class Plan:
    records: list[AssetRecord]
    plotter: PlotterSpec | None
    keep_plotter: bool
    unanswered: list[PolicyRequest] = field(default_factory=list)  # asked for, not among the answers

    @property
    def ready(self) -> bool:
        return all(r.outcome == "Ready" for r in self.records)

    @property
    def temporary(self) -> bool:
        return any(r.temporary for r in self.records)

    def asset_states(self) -> dict[str, AssetState]:
        return {r.key: r.state() for r in self.records}


def _first_error(errors: Sequence[object]) -> str:
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{errors[0]}{more}"


def _usable(
    app: M4DApplication,
    modules: Sequence[M4DModule],
    clusters: Sequence[MemberCluster],
    storage: Sequence[M4DStorageAccount],
    taxonomy: Taxonomy,
    placed: frozenset[str] = frozenset(),
) -> tuple[list[M4DModule], list[MemberCluster], list[M4DStorageAccount], list[Consideration]]:
    """Inputs sorted, with those that cannot be used set aside and noted. An Offline cluster takes no new
    work, but one the application already runs on (`placed`) keeps it until the cluster is Lost."""
    notes: list[Consideration] = []
    usable_modules: dict[str, M4DModule] = {}
    for module in sorted(modules, key=lambda m: (m.name, m.namespace or "")):
        errors = check_module(taxonomy, module)
        if module.name in usable_modules:
            why = f"another module of this name (in namespace {usable_modules[module.name].namespace}) is used"
        elif errors:
            why = f"invalid: {_first_error(errors)}"
        elif module_unready(module):
            why = "its Ready condition is False"
        else:
            usable_modules[module.name] = module
            continue
        notes.append(Consideration(step="module", module=module.name, verdict="ignored", reason=why))
    usable_clusters = []
    for cluster in sorted(clusters, key=lambda c: c.name):
        if cluster_offline(cluster) and (cluster.name not in placed or cluster_lost(cluster)):
            notes.append(Consideration(step="cluster", cluster=cluster.name, verdict="ignored", reason="offline"))
        else:
            usable_clusters.append(cluster)
    usable_storage = []
    for account in sorted(storage, key=lambda a: (a.name, a.namespace or "")):
        errors = check_storage(taxonomy, account)
        if errors:
            reason = f"invalid: {_first_error(errors)}"
            notes.append(Consideration(step="storage", storage=account.name, verdict="ignored", reason=reason))
        else:
            usable_storage.append(account)
    return list(usable_modules.values()), usable_clusters, usable_storage, notes


def _workload(
    app: M4DApplication, clusters: list[MemberCluster], all_clusters: Sequence[MemberCluster]
) -> list[MemberCluster] | Failure:
    """Where modules serving the workload may run: its own cluster, or its processing geography, or anywhere."""
    named = app.spec.selector.cluster_name
    geography = app.spec.app_info.processing_geography
    if named:
        known = {c.name: c for c in all_clusters}
        if named not in known:
            return Failure("UnknownCluster", f"spec.selector.clusterName: no MemberCluster is named {named!r}")
        region = known[named].spec.region
        if geography and region != geography:
            return Failure(
                "ConflictingRequirements",
                f"spec.selector.clusterName {named!r} is in {region}, but spec.appInfo.processingGeography is "
                f"{geography}: the workload cannot be in both",
            )
        chosen = [c for c in clusters if c.name == named]
        return chosen or Failure("NoCluster", f"cluster {named!r}, where the workload runs, is offline")
    if geography:
        chosen = [c for c in clusters if c.spec.region == geography]
        if not chosen:
            have = ", ".join(f"{c.name} ({c.spec.region})" for c in clusters) or "none"
            offline = sorted(c.name for c in all_clusters if c.spec.region == geography and c not in clusters)
            why = f"; offline there: {', '.join(offline)}" if offline else ""
            return Failure(
                "NoCluster", f"no ready member cluster in processing geography {geography} (ready: {have}){why}"
            )
        return chosen
    return list(clusters) or Failure("NoCluster", "no ready member cluster to run modules on")


def _keys(app: M4DApplication) -> list[str]:
    counts = Counter(d.data_set_id for d in app.spec.data)
    return [d.data_set_id if counts[d.data_set_id] == 1 else f"{d.data_set_id} ({d.flow})" for d in app.spec.data]


@dataclass(frozen=True)
class World:
    """The hub's resources as the planner uses them for one application: sorted, those that cannot be
    used set aside (and noted), and where its workload may run."""

    modules: list[M4DModule]
    clusters: list[MemberCluster]
    storage: list[M4DStorageAccount]
    notes: list[Consideration]
    workload: list[MemberCluster] | Failure


def world(
    app: M4DApplication,
    modules: Sequence[M4DModule],
    clusters: Sequence[MemberCluster],
    storage: Sequence[M4DStorageAccount],
    taxonomy: Taxonomy,
    placed: frozenset[str] = frozenset(),
) -> World:
    """`placed`: the clusters the application's current Plotter runs on (kept while merely Offline)."""
    usable_modules, usable_clusters, usable_storage, notes = _usable(app, modules, clusters, storage, taxonomy, placed)
    return World(usable_modules, usable_clusters, usable_storage, notes, _workload(app, usable_clusters, clusters))


def plan(
    app: M4DApplication,
    assets: Mapping[str, AssetInfo | Failure],
    answers: Mapping[AnswerKey, PolicyDecision | Failure],
    modules: Sequence[M4DModule],
    clusters: Sequence[MemberCluster],
    storage: Sequence[M4DStorageAccount],
    taxonomy: Taxonomy,
    placed: frozenset[str] = frozenset(),
) -> Plan:
    return plan_in(app, assets, answers, world(app, modules, clusters, storage, taxonomy, placed), taxonomy)


def plan_in(
    app: M4DApplication,
    assets: Mapping[str, AssetInfo | Failure],
    answers: Mapping[AnswerKey, PolicyDecision | Failure],
    hub: World,
    taxonomy: Taxonomy,
) -> Plan:
    """The plan in a `world` already prepared (what stays the same from one round of answers to the next)."""
    workload = hub.workload
    app_errors = check_application(taxonomy, app)
    decide = Answers(answers)
    records: list[AssetRecord] = []
    for index, (key, data) in enumerate(zip(_keys(app), app.spec.data, strict=True)):
        record = AssetRecord(key=key, index=index, data=data, considerations=list(hub.notes))
        records.append(record)
        interface_errors = check_data_interface(taxonomy, app, index)
        answer = assets.get(data.data_set_id)
        bad_id = asset_id_problem(data.data_set_id)
        if app_errors:
            record.error("InvalidApplication", "; ".join(map(str, app_errors)))
        elif bad_id:
            record.error("InvalidDataSetID", f"spec.data[{index}].dataSetID: {bad_id}")
        elif interface_errors:
            record.error("InvalidRequirements", "; ".join(map(str, interface_errors)))
        elif isinstance(workload, Failure):
            record.error(workload.reason, workload.message, workload.temporary)
        elif answer is None or isinstance(answer, Failure):
            failure = answer or Failure("AssetNotFound", f"the catalog was not asked about {data.data_set_id!r}")
            record.error(failure.reason, failure.message, failure.temporary)
        else:
            setting = Setting(app, decide, hub.modules, hub.clusters, hub.storage, workload, hub.notes)
            FlowPlanner(setting, record, answer).run()
    keep = any(r.temporary for r in records)
    plotter = None if keep else plotter_spec(app, records)
    return Plan(records=records, plotter=plotter, keep_plotter=keep, unanswered=list(decide.unanswered.values()))


def plotter_spec(app: M4DApplication, records: Sequence[AssetRecord]) -> PlotterSpec | None:
    ready = [r for r in records if r.outcome == "Ready" and r.flow is not None and r.asset is not None]
    if not ready:
        return None
    meta = app.metadata
    spec = PlotterSpec(
        application=AppRef(
            name=app.name, namespace=app.namespace or "default", uid=meta.uid or "", generation=meta.generation or 0
        ),
    )
    for record in ready:
        assert record.asset is not None and record.flow is not None
        spec.assets[record.asset_id] = record.asset
        spec.flows.append(record.flow)
        for name, module in record.modules.items():
            known = spec.modules.get(name)
            if known is None or (known.api is None and module.api is not None):
                spec.modules[name] = module
    spec.modules = dict(sorted(spec.modules.items()))
    return spec
