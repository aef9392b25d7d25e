"""The built-in rules engine: matching, effects, defaults, and policy files that are wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from m4d.api.application import AppInfo
from m4d.api.common import Connection
from m4d.connectors.catalog import AssetInfo, Column
from m4d.connectors.policy import BuiltinPolicyEngine, PolicyRequest
from m4d.connectors.policy.wire import decision_from_fybrik, request_to_fybrik, results_to_fybrik
from m4d.errors import InvalidError
from m4d.taxonomy import default_taxonomy

POLICIES = """
policies:
  - name: redact-pii
    description: Analysts never see personal data
    when: {intents: [customer analytics], columnTags: [PII.Sensitive]}
    action: {name: RedactColumn, options: {value: "***"}}
  - name: hash-ids
    when: {intents: [Fraud Detection], columnTags: [PII.Identifier]}
    action: {name: HashColumn, options: {keyRef: secret/data/m4d/hash-key}}
  - name: adults-only
    when: {intents: [Marketing]}
    action: {name: FilterRows, options: {predicate: "age >= 18"}}
  - name: no-interns
    when: {roles: [Intern], assetTags: [Confidential]}
    deny: true
  - name: stay-home
    description: EU data is processed in its own geography
    when: {flows: [read], assetTags: [Residency.EU]}
    unless: {processingInAssetGeography: true}
    deny: true
"""

ASSET = AssetInfo(
    id="finance/tx",
    geography="eu-de",
    tags=["finance", "Residency.EU"],
    connection=Connection(kind="file", properties={"path": "/d/tx.parquet"}),
    format="parquet",
    columns=[
        Column(name="id", tags=["PII.Identifier"]),
        Column(name="name", tags=["PII.Sensitive"]),
        Column(name="age"),
    ],
)


def request(intent: str, where: str = "eu-de", role: str | None = None, action: str = "read") -> PolicyRequest:
    return PolicyRequest.model_validate(
        {"action": action, "asset": ASSET, "context": AppInfo(intent=intent, role=role), "processingGeography": where}
    )


@pytest.fixture
def engine(tmp_path: Path) -> BuiltinPolicyEngine:
    (tmp_path / "policies.yaml").write_text(POLICIES)
    return BuiltinPolicyEngine(tmp_path)


def test_actions_take_the_tagged_columns(engine: BuiltinPolicyEngine) -> None:
    decision = engine.decide(request("Customer Analytics"))
    assert not decision.denied
    assert [(a.policy, a.action.name, a.action.columns, a.action.options) for a in decision.actions] == [
        ("redact-pii", "RedactColumn", ["name"], {"value": "***"})
    ]
    hashed = engine.decide(request("Fraud Detection")).actions[0].action
    assert (hashed.name, hashed.columns, hashed.options) == (
        "HashColumn",
        ["id"],
        {"keyRef": "secret/data/m4d/hash-key"},
    )
    assert engine.decide(request("Marketing")).actions[0].action.options == {"predicate": "age >= 18"}


def test_deny_names_the_policy(engine: BuiltinPolicyEngine) -> None:
    decision = engine.decide(request("Fraud Detection", role="intern"))
    assert not decision.denied  # not Confidential
    far = engine.decide(request("Fraud Detection", where="us-east"))
    assert far.denied and far.deny_policies == ["stay-home"]
    assert far.message == "EU data is processed in its own geography"
    # The copy of the asset in us-east may be read there: the rule compares with the data's own place.
    copy = request("Fraud Detection", where="us-east").model_copy(update={"resource_geography": "us-east"})
    assert not engine.decide(copy).denied
    # Unknown processing place: the guard stays shut.
    assert engine.decide(request("Fraud Detection").model_copy(update={"processing_geography": None})).denied


def test_default_deny(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "default: deny\npolicies:\n  - {name: fraud-ok, when: {intents: [Fraud Detection]}, allow: true}\n"
    )
    engine = BuiltinPolicyEngine(tmp_path)
    assert not engine.decide(request("Fraud Detection")).denied
    denied = engine.decide(request("Marketing"))
    assert denied.denied and denied.deny_policies == ["default-deny"]
    assert "no policy allows read of finance/tx for intent 'Marketing'" in (denied.message or "")
    assert not BuiltinPolicyEngine(tmp_path, default="allow").decide(request("Marketing")).denied


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("policies:\n  - {name: x, deny: true, allow: true}\n", "exactly one effect"),
        ("policies:\n  - {name: x, action: {name: HashColumn}}\n", "action.options.keyRef: required (taxonomy rule"),
        ("policies:\n  - {name: x, action: {name: Mask}}\n", "action.name: must be one of FilterRows"),
        ("policies:\n  - {name: x, when: {flow: [read]}, deny: true}\n", "policies[0].when.flow"),
        ("policies: [\n", "not valid YAML at line 2"),
    ],
)
def test_bad_policy_files_are_named(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(InvalidError) as info:
        BuiltinPolicyEngine(tmp_path).decide(request("x"))
    assert expected in str(info.value)
    assert "bad.yaml" in str(info.value)


def test_fybrik_wire_round_trip(engine: BuiltinPolicyEngine) -> None:
    req = request("Fraud Detection", where="eu-fr")
    wire = request_to_fybrik(req)
    assert wire["action"] == {"actionType": "read", "processingLocation": "eu-fr"}
    assert wire["resource"]["metadata"]["tags"] == {"finance": True, "Residency.EU": True}
    assert wire["context"] == {"intent": "Fraud Detection"}
    for decision in (engine.decide(request("Fraud Detection")), engine.decide(req)):
        answer = {"result": results_to_fybrik(decision)}
        assert decision_from_fybrik(default_taxonomy(), answer, "answer") == decision.model_copy(
            update={"message": None}
        )


def test_fybrik_answers_are_validated() -> None:
    bad = {"result": [{"policy": "p", "action": {"name": "HashColumn", "columns": ["id"]}}, {"action": {}}]}
    with pytest.raises(InvalidError) as info:
        decision_from_fybrik(default_taxonomy(), bad, "answer of x")
    assert "result[1]: 'policy' is a required property (Fybrik schema" in str(info.value)
    with pytest.raises(InvalidError, match=r"result\[0\].action.options: required \(taxonomy rule"):
        decision_from_fybrik(default_taxonomy(), {"result": bad["result"][:1]}, "answer of x")
