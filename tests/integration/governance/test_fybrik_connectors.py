"""The Fybrik catalog and policy-manager clients against loopback servers that speak the Fybrik specs."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from m4d.api import M4DApplication
from m4d.api.meta import Condition, find_condition
from m4d.cluster.local import LocalCluster
from m4d.connectors.catalog import FileCatalog, FybrikCatalog
from m4d.connectors.http import RetryPolicy
from m4d.connectors.policy import BuiltinPolicyEngine, FybrikPolicyManager, PolicyRequest
from m4d.controllers.application.controller import ApplicationController
from m4d.errors import InvalidError, NotFoundError, PermanentError, TemporaryError
from m4d.runtime.manager import Manager
from tests.integration.governance.conftest import policy_handler
from tests.integration.governance.fybrik_server import SpecServer, serve
from tests.unit.governance.scenarios import SCENARIOS
from tests.unit.governance.world import (
    MODULES,
    SAMPLE_CATALOG,
    SAMPLE_POLICIES,
    STORAGE,
    Scenario,
    application,
    check,
    cluster,
    connectors,
    run,
)

pytestmark = pytest.mark.integration

FIN = "finance/transactions"
FAST = RetryPolicy(attempts=3, backoff=0.01)


def test_catalog_answers_what_the_connector_says(catalog_server: SpecServer) -> None:
    client = FybrikCatalog(catalog_server.url, credentials="catalog-token", retry=FAST)
    try:
        assert client.get_asset(FIN) == FileCatalog(SAMPLE_CATALOG).get_asset(FIN)
        with pytest.raises(NotFoundError, match="has no asset 'nope'"):
            client.get_asset("nope")
    finally:
        client.close()
    assert catalog_server.violations == []
    headers, body = catalog_server.requests[0]
    assert body == {"assetID": FIN, "operationType": "read"}
    assert headers["X-Request-Datacatalog-Cred"] == "catalog-token"


def test_catalog_retries_a_flaky_connector(catalog_server: SpecServer) -> None:
    catalog_server.faults.flaky = 2
    client = FybrikCatalog(catalog_server.url, retry=FAST)
    try:
        assert client.get_asset(FIN).id == FIN
    finally:
        client.close()
    assert len(catalog_server.requests) == 3


@pytest.mark.parametrize(
    ("fault", "error", "says"),
    [
        ({"status": 503}, TemporaryError, "HTTP 503: server trouble (after 3 attempts)"),
        ({"slow": 1.0}, TemporaryError, "no whole answer within 0.2s (after 3 attempts)"),
        ({"status": 401}, PermanentError, "rejected the request: HTTP 401"),
        ({"body": b"<html>oops</html>"}, PermanentError, "answered with a body that is not usable JSON"),
        (
            {"body": json.dumps({"details": {"connection": {"name": "s3"}}, "credentials": "x"}).encode()},
            InvalidError,
            "'resourceMetadata' is a required property (Fybrik schema datacatalog.json#/definitions/GetAssetResponse",
        ),
        (
            {
                "body": json.dumps(
                    {"resourceMetadata": {}, "details": {"connection": {"name": "ftp"}}, "credentials": ""}
                ).encode()
            },
            InvalidError,
            "connection.kind: must be one of file, fybrik-arrow-flight, postgres, s3 (got 'ftp') (taxonomy rule",
        ),
    ],
)
def test_catalog_faults_are_named(catalog_server: SpecServer, fault: dict[str, object], error: type, says: str) -> None:
    for key, value in fault.items():
        setattr(catalog_server.faults, key, value)
    client = FybrikCatalog(catalog_server.url, retry=FAST, timeout=0.2)
    started = time.monotonic()
    try:
        with pytest.raises(error) as info:
            client.get_asset(FIN)
    finally:
        client.close()
    assert says in str(info.value)
    assert f"catalog fybrik:{catalog_server.url}" in str(info.value) or error is InvalidError
    assert time.monotonic() - started < 5


SAMPLE_POLICY_SCENARIOS = [s for s in SCENARIOS if s.policies is None]


@pytest.mark.parametrize("scenario", SAMPLE_POLICY_SCENARIOS, ids=str)
def test_scenarios_through_the_fybrik_policy_client(
    scenario: Scenario, policy_server: SpecServer, tmp_path: Path
) -> None:
    """The Fybrik policy connector (backed by the sample policies) gives every scenario its expected outcome."""
    client = FybrikPolicyManager(policy_server.url, credentials="policy-token", retry=FAST)
    with connectors(scenario, tmp_path, policy=client) as (catalog, policy):
        check(scenario, run(scenario, catalog, policy))
    assert policy_server.violations == []
    assert all(headers["X-Request-Cred"] == "policy-token" for headers, _ in policy_server.requests)


@pytest.mark.parametrize(
    ("fault", "error", "says"),
    [
        ({"status": 500}, TemporaryError, "policy manager fybrik:"),
        ({"body": b'{"decision_id": "1"}'}, InvalidError, "'result' is a required property"),
        (
            {"body": json.dumps({"result": [{"policy": "p", "action": {"name": "Mask"}}]}).encode()},
            InvalidError,
            "result[0].action.name: must be one of FilterRows, HashColumn, RedactColumn, RemoveColumn (got 'Mask')",
        ),
    ],
)
def test_policy_faults_are_named(policy_server: SpecServer, fault: dict[str, object], error: type, says: str) -> None:
    for key, value in fault.items():
        setattr(policy_server.faults, key, value)
    scenario = next(s for s in SCENARIOS if s.name == "hash")
    client = FybrikPolicyManager(policy_server.url, retry=FAST)
    try:
        app = scenario.app()
        asset = FileCatalog(SAMPLE_CATALOG).get_asset(FIN)
        request = PolicyRequest(action="read", asset=asset, context=app.spec.app_info, processing_geography="eu-de")
        with pytest.raises(error) as info:
            client.decide(request)
    finally:
        client.close()
    assert says in str(info.value)


def test_controller_recovers_when_the_catalog_comes_back(catalog_server: SpecServer, tmp_path: Path) -> None:
    hub = LocalCluster(tmp_path / "hub.db", name="hub")
    hub.create(MODULES["arrow-flight"])
    hub.create(cluster("eu-de-1", "eu-de"))
    hub.create(STORAGE["eu-de-store"])
    hub.create(application([FIN], "Fraud Detection"))
    catalog_server.faults.status = 503
    controller = ApplicationController(
        hub,
        catalog=FybrikCatalog(catalog_server.url, retry=RetryPolicy(attempts=2, backoff=0.01)),
        policy=BuiltinPolicyEngine(SAMPLE_POLICIES),
        retry_after=0.2,
        retry_max=0.5,
    )
    manager = Manager([controller])
    manager.start()
    try:
        error = wait_for_condition(hub, "Error")
        assert error.reason == "CatalogUnavailable" and "HTTP 503" in error.message
        catalog_server.faults.status = None
        ready = wait_for_condition(hub, "Ready")
        assert ready.reason == "Planned"
    finally:
        manager.stop()
        controller.close()
        hub.close()


def wait_for_condition(hub: LocalCluster, kind: str, timeout: float = 15.0) -> Condition:
    deadline = time.monotonic() + timeout
    app = hub.get(M4DApplication, "app", "default")
    while time.monotonic() < deadline:
        app = hub.get(M4DApplication, "app", "default")
        state = app.status.asset_states.get(FIN) if app.status else None
        condition = find_condition(state.conditions, kind) if state else None
        if condition is not None and condition.status == "True":
            return condition
        time.sleep(0.05)
    raise AssertionError(f"no {kind} condition in time: {app.status}")


DENY_FRAUD = """
policies:
  - name: stop-fraud-detection
    description: Fraud detection is suspended
    when: {intents: [Fraud Detection]}
    deny: true
"""


def test_a_fybrik_policy_change_reaches_the_application_within_the_recheck_interval(tmp_path: Path) -> None:
    """A Fybrik connector cannot say when its answers change: the hub asks it again every
    `connector_recheck` seconds, so a new deny reaches the application within that interval, and its
    removal too, with no hub resource changed."""
    policies = tmp_path / "policies"
    shutil.copytree(SAMPLE_POLICIES, policies)
    hub = LocalCluster(tmp_path / "hub.db", name="hub")
    hub.create(MODULES["arrow-flight"])
    hub.create(cluster("eu-de-1", "eu-de"))
    hub.create(STORAGE["eu-de-store"])
    hub.create(application([FIN], "Fraud Detection"))
    recheck = 2.0
    with serve(SpecServer("policymanager.spec.yaml", policy_handler(BuiltinPolicyEngine(policies)))) as server:
        controller = ApplicationController(
            hub,
            catalog=FileCatalog(SAMPLE_CATALOG),
            policy=FybrikPolicyManager(server.url, retry=FAST),
            revision_poll=0.1,
            connector_recheck=recheck,
        )
        manager = Manager([controller])
        manager.start()
        try:
            assert wait_for_condition(hub, "Ready").reason == "Planned"
            asked = len(server.requests)
            (policies / "zz-deny.yaml").write_text(DENY_FRAUD)
            edited = time.monotonic()
            denied = wait_for_condition(hub, "Deny", timeout=recheck + 20)
            assert "stop-fraud-detection" in denied.message
            assert len(server.requests) > asked  # learnt by asking the connector again
            # Within the interval plus a reconcile, with room for a loaded machine.
            assert time.monotonic() - edited < recheck + 15
            (policies / "zz-deny.yaml").unlink()
            assert wait_for_condition(hub, "Ready", timeout=recheck + 20).reason == "Planned"
        finally:
            manager.stop()
            controller.close()
            hub.close()
