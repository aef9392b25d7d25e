"""Catalog and policy changes no hub resource shows reach applications: revisions, re-asks, `m4d refresh`."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from m4d.api import M4DApplication
from m4d.api.meta import find_condition
from m4d.cli.main import cli
from m4d.cluster.local import LocalCluster
from m4d.connectors.catalog import FileCatalog
from m4d.connectors.policy import BuiltinPolicyEngine
from m4d.controllers.application.controller import ApplicationController
from m4d.controllers.application.revisions import RevisionWatch
from m4d.errors import TemporaryError
from m4d.runtime.manager import Manager
from tests.unit.governance.test_application_controller import world
from tests.unit.governance.world import SAMPLE_CATALOG, SAMPLE_POLICIES, application

FIN = "finance/transactions"
DENY_FRAUD = """
policies:
  - name: stop-fraud-detection
    description: Fraud detection is suspended
    when: {intents: [Fraud Detection]}
    deny: true
"""


class Connector:
    """A connector as the watch sees it: a name and a revision, which may be unknown or fail."""

    def __init__(self, name: str, revision: str | None, complete: bool = True) -> None:
        self.name = name
        self.current: str | Exception | None = revision
        self.revision_is_complete = complete

    def revision(self) -> str | None:
        if isinstance(self.current, Exception):
            raise self.current
        return self.current


def test_a_changed_revision_is_a_reason_and_the_first_look_only_records() -> None:
    catalog, policy = Connector("catalog c", "c1"), Connector("policy p", "p1")
    watch = RevisionWatch([catalog, policy], recheck=30)
    assert watch.check(0.0) == []
    assert watch.check(1.0) == []
    policy.current = "p2"
    assert watch.check(2.0) == ["policy p changed (revision p1 -> p2)"]
    assert watch.check(3.0) == []


def test_a_connector_that_cannot_tell_is_asked_again_at_the_interval() -> None:
    fybrik = Connector("policy fybrik", None)
    watch = RevisionWatch([fybrik], recheck=30)
    assert watch.check(0.0) == []
    assert watch.check(29.0) == []
    assert watch.check(30.0) == ["the connectors are asked again every 30s"]
    assert watch.check(31.0) == []
    assert watch.check(60.5) != []


def test_an_incomplete_revision_is_watched_and_also_rechecked() -> None:
    opa = Connector("policy opa", "r1", complete=False)
    watch = RevisionWatch([opa], recheck=30)
    watch.check(0.0)
    opa.current = "r2"
    assert watch.check(5.0) == ["policy opa changed (revision r1 -> r2)"]
    assert watch.check(34.0) == []  # the change reset the interval
    assert watch.check(35.0) == ["the connectors are asked again every 30s"]


def test_a_connector_that_is_down_keeps_its_last_revision() -> None:
    policy = Connector("policy p", "p1")
    watch = RevisionWatch([policy], recheck=30)
    watch.check(0.0)
    policy.current = TemporaryError("down")
    assert watch.check(1.0) == []
    policy.current = "p1"
    assert watch.check(2.0) == []
    policy.current = "p2"
    assert watch.check(3.0) == ["policy p changed (revision p1 -> p2)"]


def test_file_revisions_follow_edits(tmp_path: Path) -> None:
    shutil.copytree(SAMPLE_POLICIES, tmp_path / "policies")
    engine = BuiltinPolicyEngine(tmp_path / "policies")
    catalog = FileCatalog(SAMPLE_CATALOG)
    assert engine.revision_is_complete and catalog.revision_is_complete
    before = engine.revision()
    assert engine.revision() == before and catalog.revision() == catalog.revision()
    (tmp_path / "policies" / "zz-deny.yaml").write_text(DENY_FRAUD)
    assert engine.revision() != before


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LocalCluster]:
    store = LocalCluster(tmp_path / "hub.db", name="hub")
    yield store
    store.close()


def eventually(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the deadline"
        time.sleep(0.05)


def ready_reason(hub: LocalCluster) -> str | None:
    app = hub.get(M4DApplication, "app", "default")
    ready = find_condition(app.status.conditions, "Ready") if app.status else None
    return ready.reason if ready else None


def test_a_policy_file_edit_reaches_a_running_application_and_its_revert_too(hub: LocalCluster, tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(SAMPLE_POLICIES, policies)
    world(hub)
    hub.create(application([FIN], "Fraud Detection"))
    controller = ApplicationController(
        hub, catalog=FileCatalog(SAMPLE_CATALOG), policy=BuiltinPolicyEngine(policies), revision_poll=0.1
    )
    manager = Manager([controller])
    manager.start()
    try:
        eventually(lambda: ready_reason(hub) == "Deploying")
        (policies / "zz-deny.yaml").write_text(DENY_FRAUD)
        eventually(lambda: ready_reason(hub) == "Denied")
        (policies / "zz-deny.yaml").unlink()  # restored: no unrelated change needed to come back
        eventually(lambda: ready_reason(hub) == "Deploying")
    finally:
        manager.stop()


class Blind(BuiltinPolicyEngine):
    """The built-in engine as a connector that cannot tell when its content changed."""

    def revision(self) -> str | None:
        return None


def test_m4d_refresh_evaluates_an_application_at_once(tmp_path: Path) -> None:
    policies, hub_dir = tmp_path / "policies", tmp_path / "hub"
    shutil.copytree(SAMPLE_POLICIES, policies)
    hub_dir.mkdir()
    hub = LocalCluster(hub_dir / "hub.db", name="hub")  # the store `m4d --hub DIR` opens
    world(hub)
    hub.create(application([FIN], "Fraud Detection"))
    engine = Blind(policies)
    engine.revision_is_complete = False
    controller = ApplicationController(
        hub, catalog=FileCatalog(SAMPLE_CATALOG), policy=engine, revision_poll=0.1, connector_recheck=3600
    )
    manager = Manager([controller])
    manager.start()
    try:
        eventually(lambda: ready_reason(hub) == "Deploying")
        (policies / "zz-deny.yaml").write_text(DENY_FRAUD)
        time.sleep(1.0)
        assert ready_reason(hub) == "Deploying"  # nothing tells the hub
        runner = CliRunner()
        result = runner.invoke(cli, ["--hub", str(hub_dir), "refresh", "m4dapp", "app"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "m4dapplication.app.m4d.dev/app refresh requested" in result.output
        eventually(lambda: ready_reason(hub) == "Denied")
        wrong = runner.invoke(cli, ["--hub", str(hub_dir), "refresh", "plotter", "app"], catch_exceptions=False)
        assert wrong.exit_code == 2 and "only applications are refreshed" in wrong.output
    finally:
        manager.stop()
        hub.close()
