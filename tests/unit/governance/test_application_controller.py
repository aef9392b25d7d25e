"""The application controller on the embedded hub store, driven by the real runtime Manager."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from m4d.api import M4DApplication, M4DStorageAccount, MemberCluster, Plotter
from m4d.api.cluster import MemberClusterStatus
from m4d.api.common import Endpoint
from m4d.api.meta import Condition, find_condition, utcnow
from m4d.api.plotter import PlotterStatus
from m4d.cluster.local import LocalCluster
from m4d.connectors.catalog import FileCatalog
from m4d.connectors.policy import BuiltinPolicyEngine
from m4d.controllers.application.controller import ApplicationController
from m4d.runtime.manager import Manager
from tests.unit.governance.world import MODULES, SAMPLE_CATALOG, SAMPLE_POLICIES, STORAGE, application, cluster

FIN, HR = "finance/transactions", "hr/employees"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LocalCluster]:
    store = LocalCluster(tmp_path / "hub.db", name="hub")
    yield store
    store.close()


def controller(hub: LocalCluster, catalog: Path = SAMPLE_CATALOG, recheck_after: float = 60.0) -> ApplicationController:
    engine = BuiltinPolicyEngine(SAMPLE_POLICIES)
    return ApplicationController(hub, catalog=FileCatalog(catalog), policy=engine, recheck_after=recheck_after)


def settle(*controllers: ApplicationController) -> None:
    assert Manager(list(controllers)).run_until_idle(timeout=20, quiet=0.3)


def world(hub: LocalCluster, modules: tuple[str, ...] = ("arrow-flight", "implicit-copy")) -> None:
    for name in modules:
        hub.create(MODULES[name])
    for name, region in (("eu-de-1", "eu-de"), ("eu-fr-1", "eu-fr")):
        hub.create(cluster(name, region))
    hub.create(STORAGE["eu-fr-store"])


def app_status(hub: LocalCluster, name: str = "app") -> tuple[M4DApplication, dict[str, str]]:
    app = hub.get(M4DApplication, name, "default")
    assert app.status is not None
    outcomes = {}
    for key, state in app.status.asset_states.items():
        on = [c.type for c in state.conditions if c.status == "True"]
        outcomes[key] = on[0] if on else "Ready=False"
    return app, outcomes


def test_plans_applies_plotter_and_explains(hub: LocalCluster) -> None:
    world(hub)
    hub.create(application([FIN, HR], "Fraud Detection", role="Intern"))
    settle(controller(hub))
    app, outcomes = app_status(hub)
    assert outcomes == {FIN: "Ready", HR: "Deny"}
    assert app.status is not None and app.status.observed_generation == 1
    ready = find_condition(app.status.conditions, "Ready")
    assert ready is not None and ready.reason == "Denied" and "no-confidential-data-for-interns" in ready.message
    fin = app.status.asset_states[FIN]
    assert [(m.capability, m.module, m.cluster, m.actions) for m in fin.modules] == [
        ("read", "arrow-flight", "eu-de-1", ["HashColumn"])
    ]
    assert fin.decisions[0].policy == "hash-ids-for-fraud-detection"
    assert any(c.verdict == "chosen" for c in fin.explanation)
    plotter = hub.get(Plotter, "app", "default")
    assert plotter.metadata.owner_references[0].uid == app.metadata.uid
    assert [f.asset_id for f in plotter.spec.flows] == [FIN]
    assert app.status.plotter is not None and app.status.plotter.name == "app"


def test_plotter_status_makes_the_application_ready_with_endpoints(hub: LocalCluster) -> None:
    world(hub)
    hub.create(application([FIN], "Fraud Detection"))
    ctrl = controller(hub)
    settle(ctrl)
    app, _ = app_status(hub)
    assert app.status is not None and not app.status.ready
    ready = find_condition(app.status.conditions, "Ready")
    assert ready is not None and ready.reason == "Deploying"
    plotter = hub.get(Plotter, "app", "default")
    endpoint = Endpoint(protocol="fybrik-arrow-flight", hostname="127.0.0.1", port=40123)
    plotter.status = PlotterStatus(ready=True, ready_clusters="1/1", endpoints={FIN: endpoint})
    hub.update_status(plotter)
    settle(ctrl)
    app, _ = app_status(hub)
    assert app.status is not None and app.status.ready
    assert app.status.asset_states[FIN].endpoint == endpoint


def test_module_and_cluster_changes_replan(hub: LocalCluster) -> None:
    world(hub, modules=("implicit-copy",))
    hub.create(application([FIN], "Fraud Detection"))
    ctrl = controller(hub)
    settle(ctrl)
    assert app_status(hub)[1] == {FIN: "Error"}
    hub.create(MODULES["arrow-flight"])
    settle(ctrl)
    assert app_status(hub)[1] == {FIN: "Ready"}
    assert hub.get(Plotter, "app", "default").spec.flows[0].steps[0].cluster == "eu-de-1"
    # The cluster in the asset's geography goes Offline: no new work goes there, what runs there stays.
    member = hub.get(MemberCluster, "eu-de-1")
    member.status = MemberClusterStatus(conditions=[Condition(type="Ready", status="False", reason="Offline")])
    hub.update_status(member)
    settle(ctrl)
    assert [s.cluster for s in hub.get(Plotter, "app", "default").spec.flows[0].steps] == ["eu-de-1"]
    hub.create(application([FIN], "Fraud Detection", name="later"))
    settle(ctrl)
    steps = hub.get(Plotter, "later", "default").spec.flows[0].steps
    assert [(s.capability, s.cluster) for s in steps] == [("copy", "eu-fr-1"), ("read", "eu-fr-1")]
    # Silent beyond its grace period (Lost): the plan moves to a copy read in eu-fr.
    member = hub.get(MemberCluster, "eu-de-1")
    member.status = MemberClusterStatus(conditions=[Condition(type="Ready", status="False", reason="Lost")])
    hub.update_status(member)
    settle(ctrl)
    steps = hub.get(Plotter, "app", "default").spec.flows[0].steps
    assert [(s.capability, s.cluster) for s in steps] == [("copy", "eu-fr-1"), ("read", "eu-fr-1")]


def test_heartbeats_do_not_replan(hub: LocalCluster) -> None:
    world(hub)
    hub.create(application([FIN], "Fraud Detection"))
    ctrl = controller(hub)
    manager = Manager([ctrl])
    manager.start()
    try:
        wait_idle(manager)
        reconciles = manager.runners[0].stats.reconciles
        for _ in range(3):
            member = hub.get(MemberCluster, "eu-de-1")
            member.status = MemberClusterStatus(last_heartbeat=utcnow())
            hub.update_status(member)
        wait_idle(manager)
        assert manager.runners[0].stats.reconciles == reconciles
        hub.delete(MemberCluster, "eu-de-1")  # a cluster that goes replans everything
        wait_idle(manager)
        assert manager.runners[0].stats.reconciles > reconciles
    finally:
        manager.stop()


def wait_idle(manager: Manager, quiet: float = 0.5, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    since: float | None = None
    while time.monotonic() < deadline:
        if manager.idle():
            since = since or time.monotonic()
            if time.monotonic() - since >= quiet:
                return
        else:
            since = None
        time.sleep(0.02)
    raise AssertionError(f"not idle: {manager.failing()}")


def test_deleting_the_application_removes_its_plotter(hub: LocalCluster) -> None:
    world(hub)
    hub.create(application([FIN], "Fraud Detection"))
    ctrl = controller(hub)
    settle(ctrl)
    assert hub.get(M4DApplication, "app", "default").metadata.finalizers == ["app.m4d.dev/plotter"]
    hub.delete(M4DApplication, "app", "default")
    settle(ctrl)
    assert hub.list(Plotter).items == [] and hub.list(M4DApplication).items == []


def test_nothing_planned_removes_the_plotter(hub: LocalCluster) -> None:
    world(hub)
    hub.create(application([FIN], "Fraud Detection"))
    ctrl = controller(hub)
    settle(ctrl)
    app = hub.get(M4DApplication, "app", "default")
    app.spec.app_info.processing_geography = "us-east"  # no cluster there
    hub.update(app)
    settle(ctrl)
    assert app_status(hub)[1] == {FIN: "Error"}
    assert hub.list(Plotter).items == []


def test_catalog_comes_back(hub: LocalCluster, tmp_path: Path) -> None:
    """A catalog that is missing is an Error condition; the controller looks again and recovers."""
    world(hub)
    hub.create(application([FIN], "Fraud Detection"))
    directory = tmp_path / "catalog"
    manager = Manager([controller(hub, catalog=directory, recheck_after=0.2)])
    manager.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            app = hub.get(M4DApplication, "app", "default")
            if app.status and app.status.asset_states:
                break
            time.sleep(0.05)
        outcome = app_status(hub)
        error = find_condition(outcome[0].status.asset_states[FIN].conditions, "Error")  # type: ignore[union-attr]
        assert error is not None and error.reason == "CatalogError" and "does not exist" in error.message
        directory.mkdir()
        (directory / "assets.yaml").write_text((SAMPLE_CATALOG / "assets.yaml").read_text())
        while time.monotonic() < deadline and app_status(hub)[1] != {FIN: "Ready"}:
            time.sleep(0.05)
        assert app_status(hub)[1] == {FIN: "Ready"}
    finally:
        manager.stop()


def test_status_is_stable_when_nothing_changes(hub: LocalCluster) -> None:
    world(hub)
    hub.create(application([FIN, HR], "Fraud Detection", role="Intern"))
    ctrl = controller(hub)
    settle(ctrl)
    before = hub.get(M4DApplication, "app", "default")
    settle(ctrl)  # a fresh manager lists and reconciles everything again
    after = hub.get(M4DApplication, "app", "default")
    assert after.metadata.resource_version == before.metadata.resource_version
    assert hub.get(Plotter, "app", "default").metadata.generation == 1


def test_storage_account_changes_replan(hub: LocalCluster) -> None:
    world(hub)
    hub.create(application([HR], "Payroll", role="Finance", geography="eu-fr"))
    ctrl = controller(hub)
    settle(ctrl)
    assert app_status(hub)[1] == {HR: "Ready"}
    hub.delete(M4DStorageAccount, "eu-fr-store", "m4d-system")
    settle(ctrl)
    app, outcomes = app_status(hub)
    assert outcomes == {HR: "Error"}
    assert app.status is not None
    error = find_condition(app.status.asset_states[HR].conditions, "Error")
    assert error is not None and error.reason == "NoStorage"
