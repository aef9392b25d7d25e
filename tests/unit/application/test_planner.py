"""The planner as a pure decision: observations in (catalog answers, policy answers, hub resources), a plan
and the questions it still needs out. No connector is called here; the policy engine answers only what
the plan asked for, between rounds, as the controller's gather step does."""

from __future__ import annotations

import pytest

from m4d.connectors.catalog import FileCatalog
from m4d.connectors.catalog.model import AssetInfo
from m4d.connectors.policy import BuiltinPolicyEngine
from m4d.connectors.policy.model import PolicyDecision
from m4d.controllers.application.candidates import Failure
from m4d.controllers.application.gather import evaluate
from m4d.controllers.application.planner import Plan, plan
from m4d.controllers.application.setting import NOT_ASKED, AnswerKey
from m4d.taxonomy import default_taxonomy
from tests.unit.governance.scenarios import SCENARIOS
from tests.unit.governance.world import SAMPLE_CATALOG, SAMPLE_POLICIES, Scenario

Answers = dict[AnswerKey, PolicyDecision | Failure]


def scenario(name: str) -> Scenario:
    return next(s for s in SCENARIOS if s.name == name)


def observed_assets(s: Scenario) -> dict[str, AssetInfo | Failure]:
    catalog = FileCatalog(SAMPLE_CATALOG)
    try:
        return {d.data_set_id: catalog.get_asset(d.data_set_id) for d in s.app().spec.data}
    finally:
        catalog.close()


def decide(s: Scenario, answers: Answers) -> Plan:
    modules, clusters, accounts = s.world()
    return plan(s.app(), observed_assets(s), answers, modules, clusters, accounts, default_taxonomy())


def rounds(s: Scenario, engine: BuiltinPolicyEngine) -> tuple[Plan, int, Answers]:
    """Plan, answer what the plan asked, plan again: until it asks nothing more."""
    answers: Answers = {}
    for count in range(1, 20):
        result = decide(s, answers)
        if not result.unanswered:
            return result, count, answers
        for request in result.unanswered:
            assert request.key() not in answers, "a question already answered was asked again"
            answers[request.key()] = engine.decide(request)
    raise AssertionError("the plan kept asking")


def test_without_policy_answers_the_plan_asks_and_places_nothing() -> None:
    result = decide(scenario("hash"), {})
    assert result.unanswered, "the plan needs the policy manager's answer"
    assert result.plotter is None and result.keep_plotter  # waiting, not removing what runs
    assert [r.reason for r in result.records] == [NOT_ASKED]
    assert all(r.temporary for r in result.records)


@pytest.mark.parametrize("name", ["hash", "remove", "geography-deny", "allow-without-actions"])
def test_answered_rounds_reach_the_plan_the_controller_makes(name: str) -> None:
    s = scenario(name)
    engine = BuiltinPolicyEngine(SAMPLE_POLICIES)
    catalog = FileCatalog(SAMPLE_CATALOG)
    try:
        final, count, answers = rounds(s, engine)
        modules, clusters, accounts = s.world()
        gathered = evaluate(s.app(), catalog, engine, modules, clusters, accounts, default_taxonomy())
    finally:
        engine.close()
        catalog.close()
    assert count >= 2 and answers
    assert (final.plotter.wire() if final.plotter else None) == (gathered.plotter.wire() if gathered.plotter else None)
    assert final.asset_states() == gathered.asset_states()


def test_same_observations_give_the_same_decision() -> None:
    s = scenario("geography-deny")
    engine = BuiltinPolicyEngine(SAMPLE_POLICIES)
    try:
        _, _, answers = rounds(s, engine)
    finally:
        engine.close()
    first, again = decide(s, dict(answers)), decide(s, dict(reversed(answers.items())))
    assert first.asset_states() == again.asset_states()
    assert first.unanswered == again.unanswered == []


def test_a_policy_manager_failure_is_an_observation_too() -> None:
    s = scenario("hash")
    asked = decide(s, {})
    down = Failure("PolicyManagerUnavailable", "policy manager at http://127.0.0.1:9 is down", temporary=True)
    result = decide(s, {r.key(): down for r in asked.unanswered})
    assert not result.unanswered
    assert [r.reason for r in result.records] == ["PolicyManagerUnavailable"]
    assert result.keep_plotter and result.plotter is None
