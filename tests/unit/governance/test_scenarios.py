"""The governance scenario table against the built-in engines (and, for outages, real closed ports)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.unit.governance.scenarios import SCENARIOS
from tests.unit.governance.world import Scenario, check, connectors, run


def test_there_are_enough_scenarios() -> None:
    assert len(SCENARIOS) >= 25
    assert len({s.name for s in SCENARIOS}) == len(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_scenario(scenario: Scenario, tmp_path: Path) -> None:
    with connectors(scenario, tmp_path) as (catalog, policy):
        check(scenario, run(scenario, catalog, policy))


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.catalog != "down" and s.policies != "down"], ids=str)
def test_same_inputs_give_the_same_plotter(scenario: Scenario, tmp_path: Path) -> None:
    """Input order does not matter: shuffled modules, clusters and storage accounts give the same plan."""
    with connectors(scenario, tmp_path) as (catalog, policy):
        first = run(scenario, catalog, policy)
        again = run(scenario, catalog, policy, shuffle=random.Random(7))
    assert (first.plotter.wire() if first.plotter else None) == (again.plotter.wire() if again.plotter else None)
    assert first.asset_states() == again.asset_states()
