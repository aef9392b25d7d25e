"""Values the platform itself cannot use are refused while planning, not by a module on a member later:
dataSetIDs outside the modules' asset-id rule, and policy actions whose predicate does not parse or that
name columns the catalog does not list. The asset gets an Error condition naming the field or the policy,
no Plotter is stored and nothing is committed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from m4d.api import M4DApplication
from m4d.cluster.local import LocalCluster
from m4d.connectors.catalog import FileCatalog
from m4d.connectors.http import RetryPolicy
from m4d.connectors.policy import BuiltinPolicyEngine, FybrikPolicyManager, PolicyManager
from m4d.controllers.application.controller import ApplicationController
from tests.badinput.harness import hub_state
from tests.badinput.servers import Behaviour, Misbehaving, misbehaving
from tests.unit.governance.world import MODULES, SAMPLE_CATALOG, SAMPLE_POLICIES, STORAGE, application, cluster

FIN = "finance/transactions"
RULE = "must be letters, digits and . _ : @ - in /-separated parts"


@dataclass(frozen=True)
class IdCase:
    id: str
    data_set: str


ID_CASES = [
    IdCase("shell-substitution", "$(rm -rf /)"),
    IdCase("backticks", "`id`"),
    IdCase("path-traversal", "../../etc/passwd"),
    IdCase("absolute-path", "/etc/passwd"),
    IdCase("dot-dot-inside", "finance/../hr/employees"),
    IdCase("double-slash", "finance//transactions"),
    IdCase("trailing-slash", "finance/transactions/"),
    IdCase("nul", "finance\x00transactions"),
    IdCase("newline", "finance/transactions\nx"),
    IdCase("space", "finance transactions"),
    IdCase("semicolon", "a;b"),
    IdCase("unicode", "finanz/überweisungen"),
    IdCase("leading-dash", "-rf"),
    IdCase("too-long", "a" * 300),
    IdCase("url", "http://example.com/x"),
]


@dataclass(frozen=True)
class PredicateCase:
    id: str
    predicate: str
    says: str


PREDICATE_CASES = [
    PredicateCase("sql-injection", "1=1; DROP TABLE transactions", "does not parse"),
    PredicateCase("python-call", "__import__('os').system('id')", "does not parse"),
    PredicateCase("unterminated-string", "status = 'paid", "does not parse"),
    PredicateCase("dangling-operator", "amount >", "does not parse"),
    PredicateCase("open-paren", "(amount > 1", "does not parse"),
    PredicateCase("empty", " ", "does not parse"),
    PredicateCase("unknown-column", "colour = 'red'", "names column(s) 'colour'"),
    PredicateCase("unknown-in-or", "status = 'paid' or nosuch > 3", "names column(s) 'nosuch'"),
    PredicateCase("unknown-quoted", '"Amount" > 3', "names column(s) 'Amount'"),
    PredicateCase("too-deep", "(" * 100 + "amount > 1" + ")" * 100, "does not parse"),
    PredicateCase("empty-in-list", "status in ()", "does not parse"),
    PredicateCase("comment", "amount > 1 -- and more", "does not parse"),
]


@dataclass(frozen=True)
class ColumnCase:
    id: str
    action: dict[str, object]
    says: str


COLUMN_CASES = [
    ColumnCase("redact-unknown", {"name": "RedactColumn", "columns": ["passport"]}, "names column(s) 'passport'"),
    ColumnCase("remove-unknown", {"name": "RemoveColumn", "columns": ["ssn", "pin"]}, "names column(s) 'pin'"),
    ColumnCase(
        "hash-unknown", {"name": "HashColumn", "columns": ["iban"], "keyRef": "secret/k"}, "names column(s) 'iban'"
    ),
    ColumnCase("filter-bad", {"name": "FilterRows", "predicate": "amount >> 1"}, "does not parse"),
]

CLASSES: dict[str, list[IdCase] | list[PredicateCase] | list[ColumnCase]] = {
    "dataSetIDs the modules refuse": ID_CASES,
    "predicates the modules refuse": PREDICATE_CASES,
    "actions on columns the asset lacks": COLUMN_CASES,
}
CASES = [c for cases in CLASSES.values() for c in cases]


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LocalCluster]:
    store = LocalCluster(tmp_path / "hub" / "hub.db", name="hub")
    for name in ("arrow-flight", "implicit-copy"):
        store.create(MODULES[name])
    for name, region in (("eu-de-1", "eu-de"), ("eu-fr-1", "eu-fr")):
        store.create(cluster(name, region))
    store.create(STORAGE["eu-fr-store"])
    yield store
    store.close()


def planned(hub: LocalCluster, policy: PolicyManager) -> tuple[str, str]:
    """(reason, message) of the application's only asset, after one reconcile that must change nothing."""
    controller = ApplicationController(hub, catalog=FileCatalog(SAMPLE_CATALOG), policy=policy)
    before = hub_state(hub.path.parent)
    try:
        outcome = controller.reconcile(hub.get(M4DApplication, "app", "default"))
    finally:
        controller.close()
    assert hub_state(hub.path.parent) == before, "the refused plan was stored"
    assert outcome.status is not None
    (state,) = outcome.status.asset_states.values()  # type: ignore[attr-defined]
    on = [c for c in state.conditions if c.status == "True"]
    assert [c.type for c in on] == ["Error"], state.conditions
    return on[0].reason, on[0].message


@pytest.mark.parametrize("case", ID_CASES, ids=[c.id for c in ID_CASES])
def test_data_set_id_the_modules_refuse(case: IdCase, hub: LocalCluster) -> None:
    hub.create(application([case.data_set], "Fraud Detection"))
    reason, message = planned(hub, BuiltinPolicyEngine(SAMPLE_POLICIES))
    assert reason == "InvalidDataSetID"
    assert message.startswith("spec.data[0].dataSetID: asset id")
    assert RULE in message


@pytest.mark.parametrize("case", PREDICATE_CASES, ids=[c.id for c in PREDICATE_CASES])
def test_predicate_the_modules_refuse(case: PredicateCase, hub: LocalCluster, tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    rule = {
        "name": "fraud-sees-some-rows",
        "when": {"intents": ["Fraud Detection"], "assetTags": ["finance"]},
        "action": {"name": "FilterRows", "options": {"predicate": case.predicate}},
    }
    (policies / "rows.yaml").write_text(json.dumps({"policies": [rule]}))
    hub.create(application([FIN], "Fraud Detection"))
    reason, message = planned(hub, BuiltinPolicyEngine(policies))
    assert reason == "InvalidPolicyAction"
    assert "FilterRows of policy fraud-sees-some-rows" in message
    assert case.says in message


@pytest.fixture(scope="module")
def server() -> Iterator[Misbehaving]:
    with misbehaving() as running:
        yield running


@pytest.mark.parametrize("case", COLUMN_CASES, ids=[c.id for c in COLUMN_CASES])
def test_action_on_columns_the_asset_lacks(case: ColumnCase, hub: LocalCluster, server: Misbehaving) -> None:
    server.behave(Behaviour(json.dumps({"result": [{"policy": "p-col", "action": case.action}]}).encode()))
    hub.create(application([FIN], "Fraud Detection"))
    reason, message = planned(hub, FybrikPolicyManager(server.url, timeout=5, retry=RetryPolicy(attempts=1)))
    assert reason == "InvalidPolicyAction"
    assert f"{case.action['name']} of policy p-col" in message
    assert case.says in message
