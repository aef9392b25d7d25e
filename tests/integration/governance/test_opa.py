"""Governance against a real OPA server running the sample rego (samples/policies/opa)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from m4d.api import M4DApplication, Plotter
from m4d.api.application import AppInfo
from m4d.api.meta import find_condition
from m4d.cluster.local import LocalCluster
from m4d.connectors.catalog import FileCatalog
from m4d.connectors.http import RetryPolicy
from m4d.connectors.policy import BuiltinPolicyEngine, OpaPolicyManager, PolicyDecision, PolicyRequest
from m4d.controllers.application.controller import ApplicationController
from m4d.errors import InvalidError, PermanentError
from m4d.runtime.manager import Manager
from tests.integration.governance.conftest import OpaServer, start_opa
from tests.testenv.process import free_port
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

FAST = RetryPolicy(attempts=2, backoff=0.01)
OPA_SCENARIOS = [s for s in SCENARIOS if s.policies is None]


@pytest.fixture
def opa_client(opa: OpaServer) -> Iterator[OpaPolicyManager]:
    client = OpaPolicyManager(opa.url, retry=FAST)
    yield client
    client.close()


@pytest.mark.parametrize("scenario", OPA_SCENARIOS, ids=str)
def test_scenarios_with_opa(scenario: Scenario, opa_client: OpaPolicyManager, tmp_path: Path) -> None:
    with connectors(scenario, tmp_path, policy=opa_client) as (catalog, policy):
        check(scenario, run(scenario, catalog, policy))


def _core(decision: PolicyDecision) -> tuple[object, ...]:
    return (decision.denied, sorted(decision.deny_policies), [(a.policy, a.action.wire()) for a in decision.actions])


def test_rego_and_yaml_samples_agree_on_every_question(opa_client: OpaPolicyManager) -> None:
    """The two sample policy sets say the same thing, asked every combination that matters to them."""
    catalog = FileCatalog(SAMPLE_CATALOG)
    builtin = BuiltinPolicyEngine(SAMPLE_POLICIES)
    assets = [catalog.get_asset(a) for a in catalog.asset_ids()]
    intents = ["Fraud Detection", "Customer Analytics", "Marketing", "Research"]
    roles = [None, "Intern", "Finance"]
    places = ["eu-de", "eu-fr", "us-east"]
    asked = 0
    for asset, intent, role, flow, where, dest in itertools.product(
        assets, intents, roles, ("read", "copy", "write"), places, (None, "eu-fr", "us-east")
    ):
        if (flow == "read") != (dest is None):
            continue
        request = PolicyRequest.model_validate(
            {
                "action": flow,
                "asset": asset,
                "context": AppInfo(intent=intent, role=role),
                "processingGeography": where,
                "destination": dest,
            }
        )
        assert _core(opa_client.decide(request)) == _core(builtin.decide(request)), request.describe()
        asked += 1
    assert asked == 3 * 4 * 3 * 3 * (1 + 2 + 2)


def test_missing_policy_package_is_named(opa: OpaServer) -> None:
    client = OpaPolicyManager(opa.url, path="m4d/nothing", retry=FAST)
    request = PolicyRequest(
        action="read",
        asset=FileCatalog(SAMPLE_CATALOG).get_asset("finance/transactions"),
        context=AppInfo(intent="x"),
        processing_geography="eu-de",
    )
    try:
        with pytest.raises(PermanentError, match=r"has no document at data\.m4d\.nothing") as info:
            client.decide(request)
    finally:
        client.close()
    assert info.value.reason == "PolicyMissing"


def test_rego_that_breaks_the_taxonomy_is_named(tmp_path: Path) -> None:
    (tmp_path / "bad.rego").write_text(
        'package m4d\n\nimport rego.v1\n\ndecisions contains {"policy": "mask-all", '
        '"action": {"name": "HashColumn", "columns": ["ssn"]}} if true\n'
    )
    server = start_opa(free_port(), tmp_path, tmp_path / "bad.rego")
    client = OpaPolicyManager(server.url, retry=FAST)
    request = PolicyRequest(
        action="read",
        asset=FileCatalog(SAMPLE_CATALOG).get_asset("finance/transactions"),
        context=AppInfo(intent="x"),
        processing_geography="eu-de",
    )
    try:
        with pytest.raises(InvalidError) as info:
            client.decide(request)
    finally:
        client.close()
        server.stop()
    assert "result[0].action.options: required (taxonomy rule #/definitions/HashColumn/required)" in str(info.value)


def test_opa_outage_keeps_the_plan_and_recovers(tmp_path: Path) -> None:
    port = free_port()
    server = start_opa(port, tmp_path)
    hub = LocalCluster(tmp_path / "hub.db", name="hub")
    hub.create(MODULES["arrow-flight"])
    hub.create(cluster("eu-de-1", "eu-de"))
    hub.create(STORAGE["eu-de-store"])
    hub.create(application(["finance/transactions"], "Fraud Detection"))
    controller = ApplicationController(
        hub,
        catalog=FileCatalog(SAMPLE_CATALOG),
        policy=OpaPolicyManager(server.url, retry=FAST, timeout=1.0),
        retry_after=0.2,
        retry_max=0.5,
    )
    try:
        assert Manager([controller]).run_until_idle(timeout=20, quiet=0.3)
        assert outcome(hub) == ("Ready", "Planned")
        plotter = hub.get(Plotter, "app", "default")
        server.stop()
        app = hub.get(M4DApplication, "app", "default")
        app.metadata.labels["touched"] = "yes"  # any change: the controller looks again, OPA is gone
        hub.update(app)
        manager = Manager([controller])
        manager.start()
        try:
            wait(lambda: outcome(hub)[1] == "PolicyManagerUnavailable")
            assert hub.get(Plotter, "app", "default").metadata.resource_version == plotter.metadata.resource_version
            server = start_opa(port, tmp_path)
            wait(lambda: outcome(hub) == ("Ready", "Planned"))
        finally:
            manager.stop()
    finally:
        server.stop()
        controller.close()
        hub.close()


def outcome(hub: LocalCluster) -> tuple[str, str]:
    app = hub.get(M4DApplication, "app", "default")
    if app.status is None or "finance/transactions" not in app.status.asset_states:
        return ("", "")
    conditions = app.status.asset_states["finance/transactions"].conditions
    for kind in ("Deny", "Error", "Ready"):
        condition = find_condition(conditions, kind)
        if condition is not None and condition.status == "True":
            return (kind, condition.reason)
    return ("", "")


def wait(predicate: object, timeout: float = 20.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_opa_revision_follows_policy_pushes(opa: OpaServer) -> None:
    import httpx  # noqa: PLC0415 - the test pushes rego as a steward would

    client = OpaPolicyManager(opa.url, retry=FAST)
    try:
        before = client.revision()
        assert before is not None and client.revision() == before and not client.revision_is_complete
        rego = 'package m4d.extra\n\nnote := "a steward\'s edit"\n'
        with httpx.Client(base_url=opa.url) as http:
            assert http.put("/v1/policies/extra", content=rego).status_code == 200
            changed = client.revision()
            assert changed != before
            assert http.delete("/v1/policies/extra").status_code == 200
        assert client.revision() != changed
    finally:
        client.close()
