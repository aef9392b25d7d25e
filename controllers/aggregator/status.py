"""Aggregate what members report into a Plotter's status. Pure: observed state in, status out.

For each cluster a Plotter runs on, the Plotter controller has recorded which Blueprint it committed
(name and spec digest). A cluster is
- Offline when its agent was never heard of, or the registry judged it Lost (silent beyond the heartbeat
  timeout and the grace period after it: its placements move). A member only briefly silent (an agent
  restart, a freeze) keeps what it last reported: its modules keep serving meanwhile;
- WaitApplied until its agent reports that very Blueprint (same digest), so an old report of a
  previous plan never reads as ready;
- Error when a module of that Blueprint failed (with the module's message);
- Ready when every module is ready (or, for jobs, completed).
The Plotter is ready when every cluster is, and the workload endpoint of each asset is the endpoint
of the module instance that serves its API.

Of the Plotter's status this writes only what it owns (`aggregated`): per cluster the applied revision,
observed generation, phase and message, and the Plotter's ready, readyClusters and endpoints. What was
committed (the cluster set, Blueprint names, digests and committed revisions) is the Plotter
controller's, and read as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from m4d.api.cluster import MemberCluster
from m4d.api.common import Endpoint
from m4d.api.meta import Condition, find_condition
from m4d.api.plotter import ClusterState, Plotter, PlotterStatus
from m4d.api.report import BlueprintReport
from m4d.generator.naming import instance_name

HEARTBEAT_TIMEOUT = timedelta(seconds=15)
# How long a member may stay Offline before what runs there is placed elsewhere.
OFFLINE_GRACE = timedelta(seconds=60)


def heartbeat_age(cluster: MemberCluster, now: datetime) -> timedelta | None:
    beat = cluster.status.last_heartbeat if cluster.status else None
    return None if beat is None else now - beat


def _lost(cluster: MemberCluster) -> Condition | None:
    ready = find_condition(cluster.status.conditions, "Ready") if cluster.status else None
    return ready if ready is not None and ready.status == "False" and ready.reason == "Lost" else None


def _cluster_state(
    name: str, state: ClusterState, cluster: MemberCluster | None, report: BlueprintReport | None
) -> ClusterState:
    if cluster is None:
        return state.model_copy(update={"phase": "Error", "message": f"cluster {name} is not registered"})
    lost = _lost(cluster)
    if cluster.status is None or cluster.status.last_heartbeat is None or lost is not None:
        why = "its agent has never sent a heartbeat" if lost is None else lost.message
        return state.model_copy(update={"phase": "Offline", "message": f"cluster {name} is offline: {why}"})
    if report is None or report.spec.blueprint.spec_hash != state.spec_hash:
        applied = report.spec.applied_revision if report else None
        message = f"waiting for cluster {name} to apply Blueprint {state.blueprint}"
        if state.committed_revision:
            message += f" (committed in {state.committed_revision[:10]})"
        return state.model_copy(update={"phase": "WaitApplied", "message": message, "applied_revision": applied})
    spec = report.spec
    update: dict[str, object] = {
        "applied_revision": spec.applied_revision,
        "observed_generation": spec.blueprint.generation,
    }
    failed = sorted((n, m) for n, m in spec.modules.items() if m.phase == "Failed")
    if failed or spec.phase == "Failed":
        detail = "; ".join(f"module {n}: {m.message or 'failed'}" for n, m in failed) or "; ".join(spec.errors)
        return state.model_copy(update={**update, "phase": "Error", "message": f"on cluster {name}: {detail}"})
    pending = sorted(n for n, m in spec.modules.items() if m.phase == "Pending")
    if pending or spec.phase == "Pending" or not spec.modules:
        waiting = ", ".join(pending) or "modules"
        return state.model_copy(
            update={**update, "phase": "WaitApplied", "message": f"on cluster {name}: starting {waiting}"}
        )
    return state.model_copy(update={**update, "phase": "Ready", "message": None})


def workload_endpoints(plotter: Plotter, reports: Mapping[str, BlueprintReport]) -> dict[str, Endpoint]:
    """asset id → the endpoint of the module instance serving that asset's API to the workload."""
    out: dict[str, Endpoint] = {}
    for flow in plotter.spec.flows:
        serving = [s for s in flow.steps if s.api is not None]
        if not serving:
            continue
        step = serving[-1]
        report = reports.get(step.cluster)
        module = report.spec.modules.get(instance_name(step.module)) if report else None
        if module is not None and module.endpoint is not None:
            out[flow.asset_id] = module.endpoint
    return out


def aggregate(
    plotter: Plotter,
    status: PlotterStatus,
    clusters: Sequence[MemberCluster],
    reports: Sequence[BlueprintReport],
) -> PlotterStatus:
    """`status` with each cluster's phase, readiness, n-of-m and endpoints brought up to date.

    `reports` are this Plotter's reports (one per cluster); `status.clusters` says what was committed.
    """
    by_cluster = {c.name: c for c in clusters}
    report_of = {r.spec.cluster: r for r in reports if r.spec.application.uid == plotter.spec.application.uid}
    states = {
        name: _cluster_state(name, state, by_cluster.get(name), report_of.get(name))
        for name, state in sorted(status.clusters.items())
    }
    ready = sum(1 for s in states.values() if s.phase == "Ready")
    endpoints = workload_endpoints(plotter, {n: r for n, r in report_of.items() if states[n].phase == "Ready"})
    return status.model_copy(
        update={
            "clusters": states,
            "ready": bool(states) and ready == len(states),
            "ready_clusters": f"{ready}/{len(states)}",
            "endpoints": endpoints,
        }
    )


AGGREGATED_CLUSTER_FIELDS = ("applied_revision", "observed_generation", "phase", "message")
AGGREGATED_FIELDS = ("ready", "ready_clusters", "endpoints")


def aggregated(stored: PlotterStatus | None, decided: PlotterStatus) -> PlotterStatus:
    """`stored` with the fields this controller owns taken from `decided`, and nothing else."""
    base = stored or PlotterStatus()
    clusters = {
        name: state.model_copy(
            update={f: getattr(decided.clusters[name], f) for f in AGGREGATED_CLUSTER_FIELDS}
            if name in decided.clusters
            else {}
        )
        for name, state in base.clusters.items()
    }
    return base.model_copy(update={"clusters": clusters, **{f: getattr(decided, f) for f in AGGREGATED_FIELDS}})
