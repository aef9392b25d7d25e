"""Aggregation of member reports into Plotter status, case by case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from m4d.api import BlueprintReport, MemberCluster, Plotter
from m4d.api.blueprint import ModuleState
from m4d.api.cluster import MemberClusterStatus
from m4d.api.common import Endpoint, Interface
from m4d.api.module import ModuleDeployment
from m4d.api.plotter import AppRef, ClusterState, PlotterFlow, PlotterModule, PlotterSpec, PlotterStatus, Step
from m4d.api.report import BlueprintRef, BlueprintReportSpec
from m4d.controllers.aggregator.status import aggregate, aggregated
from m4d.controllers.plotter.status import committed as committed_fields
from m4d.controllers.registry.liveness import liveness

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
APP = AppRef(name="nb", namespace="default", uid="u1", generation=1)
ENDPOINT = Endpoint(protocol="fybrik-arrow-flight", hostname="127.0.0.1", port=40001)


def plotter() -> Plotter:
    flight = Interface(protocol="fybrik-arrow-flight")
    return Plotter.new(
        "nb",
        "default",
        spec=PlotterSpec(
            application=APP,
            modules={
                "copy": PlotterModule(module="copy", deployment=ModuleDeployment(kind="Job")),
                "read": PlotterModule(module="arrow-flight", deployment=ModuleDeployment(), api=flight),
            },
            flows=[
                PlotterFlow(
                    name="f",
                    asset_id="finance/tx",
                    flow="read",
                    steps=[
                        Step(name="copy", cluster="us", module="copy", capability="copy"),
                        Step(name="read", cluster="eu", module="read", capability="read", api=flight),
                    ],
                )
            ],
        ),
    )


def committed() -> PlotterStatus:
    return PlotterStatus(
        committed_revision="c0ffee",
        clusters={
            "eu": ClusterState(blueprint="default-nb", spec_hash="h-eu", committed_revision="c0ffee"),
            "us": ClusterState(blueprint="default-nb", spec_hash="h-us", committed_revision="c0ffee"),
        },
    )


def member(name: str, beat_age: float | None = 1) -> MemberCluster:
    """A member whose agent beat `beat_age` seconds ago, judged by the registry as it would be."""
    mc = MemberCluster.new(name, spec={"region": name})
    if beat_age is not None:
        mc.status = MemberClusterStatus(last_heartbeat=NOW - timedelta(seconds=beat_age))
        verdict, _ = liveness(mc, NOW, timedelta(seconds=15), timedelta(seconds=60))
        mc.status.conditions = [verdict]
    return mc


def report(cluster: str, digest: str, modules: dict[str, ModuleState], phase: str = "Ready") -> BlueprintReport:
    return BlueprintReport.new(
        f"{cluster}-nb",
        f"m4d-member-{cluster}",
        spec=BlueprintReportSpec(
            cluster=cluster,
            blueprint=BlueprintRef(name="default-nb", namespace="m4d-blueprints", generation=3, spec_hash=digest),
            application=APP,
            applied_revision="c0ffee",
            phase=phase,  # type: ignore[arg-type]
            modules=modules,
        ),
    )


READY_EU = report("eu", "h-eu", {"read": ModuleState(phase="Ready", endpoint=ENDPOINT)})
DONE_US = report("us", "h-us", {"copy": ModuleState(phase="Completed")}, phase="Completed")


def phases(status: PlotterStatus) -> dict[str, str]:
    return {n: s.phase for n, s in status.clusters.items()}


def test_all_applied_and_ready() -> None:
    status = aggregate(plotter(), committed(), [member("eu"), member("us")], [READY_EU, DONE_US])
    assert phases(status) == {"eu": "Ready", "us": "Ready"}
    assert status.ready and status.ready_clusters == "2/2"
    assert status.endpoints == {"finance/tx": ENDPOINT}
    assert status.clusters["eu"].applied_revision == "c0ffee"


def test_no_report_yet_waits() -> None:
    status = aggregate(plotter(), committed(), [member("eu"), member("us")], [DONE_US])
    assert phases(status) == {"eu": "WaitApplied", "us": "Ready"}
    assert not status.ready and status.ready_clusters == "1/2"
    assert status.endpoints == {}
    assert "waiting for cluster eu to apply Blueprint default-nb" in (status.clusters["eu"].message or "")


def test_report_of_an_older_blueprint_is_not_ready() -> None:
    old = report("eu", "h-old", {"read": ModuleState(phase="Ready", endpoint=ENDPOINT)})
    status = aggregate(plotter(), committed(), [member("eu"), member("us")], [old, DONE_US])
    assert status.clusters["eu"].phase == "WaitApplied"


def test_failed_module_is_an_error_with_its_message() -> None:
    failed = report("eu", "h-eu", {"read": ModuleState(phase="Failed", message="bucket not found")}, "Failed")
    status = aggregate(plotter(), committed(), [member("eu"), member("us")], [failed, DONE_US])
    assert status.clusters["eu"].phase == "Error"
    assert "module read: bucket not found" in (status.clusters["eu"].message or "")


def test_pending_module_waits() -> None:
    starting = report("eu", "h-eu", {"read": ModuleState(phase="Pending")}, "Pending")
    status = aggregate(plotter(), committed(), [member("eu"), member("us")], [starting, DONE_US])
    assert status.clusters["eu"].phase == "WaitApplied"
    assert "starting read" in (status.clusters["eu"].message or "")


def test_a_lost_member_is_offline_whatever_was_reported() -> None:
    status = aggregate(plotter(), committed(), [member("eu", 90), member("us")], [READY_EU, DONE_US])
    assert status.clusters["eu"].phase == "Offline"
    assert "no heartbeat for 90s" in (status.clusters["eu"].message or "")
    assert not status.ready


def test_a_member_silent_within_its_grace_period_keeps_what_it_reported() -> None:
    status = aggregate(plotter(), committed(), [member("eu", 60), member("us")], [READY_EU, DONE_US])
    assert phases(status) == {"eu": "Ready", "us": "Ready"}
    assert status.ready and status.endpoints == {"finance/tx": ENDPOINT}


def test_never_seen_and_unregistered_clusters() -> None:
    status = aggregate(plotter(), committed(), [member("eu", None)], [READY_EU, DONE_US])
    assert status.clusters["eu"].phase == "Offline"
    assert "never sent a heartbeat" in (status.clusters["eu"].message or "")
    assert status.clusters["us"].phase == "Error" and "not registered" in (status.clusters["us"].message or "")


def test_reports_of_a_recreated_application_are_ignored() -> None:
    other = READY_EU.model_copy(deep=True)
    other.spec.application = APP.model_copy(update={"uid": "u-old"})
    status = aggregate(plotter(), committed(), [member("eu"), member("us")], [other, DONE_US])
    assert status.clusters["eu"].phase == "WaitApplied"


def test_each_controller_writes_only_its_own_fields() -> None:
    stored = aggregate(plotter(), committed(), [member("eu"), member("us")], [READY_EU, DONE_US])
    assert stored.ready
    # The Plotter controller commits a new Blueprint for eu: digest and revision move, the members'
    # view (phase, ready, endpoints) is the aggregator's to change.
    moved = stored.clusters["eu"].model_copy(update={"spec_hash": "h-eu-2", "committed_revision": "beef", "phase": "X"})
    decided = stored.model_copy(update={"clusters": {**stored.clusters, "eu": moved}, "ready": False, "endpoints": {}})
    after_commit = committed_fields(stored, decided)
    assert after_commit.clusters["eu"].spec_hash == "h-eu-2" and after_commit.clusters["eu"].phase == "Ready"
    assert after_commit.ready and after_commit.endpoints == stored.endpoints
    # The aggregator then sees the old report against the new digest; it cannot undo the commit.
    seen = aggregate(plotter(), after_commit, [member("eu"), member("us")], [READY_EU, DONE_US])
    stale = seen.model_copy(
        update={"clusters": {**seen.clusters, "eu": seen.clusters["eu"].model_copy(update={"spec_hash": "h-eu"})}}
    )
    after_aggregate = aggregated(after_commit, stale)
    assert after_aggregate.clusters["eu"].spec_hash == "h-eu-2"
    assert after_aggregate.clusters["eu"].phase == "WaitApplied" and not after_aggregate.ready
