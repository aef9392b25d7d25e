"""Heartbeat gaps: a member silent for less than its grace period, or a stall of the hub's own store,
changes nothing (no commit, no endpoint moves, no module restarts, data keeps flowing)."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from m4d.api import MemberCluster
from m4d.api.meta import find_condition
from m4d.demo import services
from m4d.demo.setup import submit_applications
from tests.e2e.conftest import HEARTBEAT_TIMEOUT, OFFLINE_GRACE, World
from tests.e2e.faults import Snapshot, assert_converged, readable, settle, snapshot

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def _ready(world: World, cluster: str) -> str:
    status = world.hub.get(MemberCluster, cluster).status
    condition = find_condition(status.conditions, "Ready") if status else None
    return f"{condition.status}/{condition.reason}" if condition else "none"


def _settle(world: World) -> Snapshot:
    submit_applications(world.paths, world.say)
    before = settle(world)
    assert_converged(world)
    return before


def test_an_agent_frozen_for_less_than_the_grace_period_changes_nothing(world: World) -> None:
    before = _settle(world)
    agent = services.running(world.paths.hub)["agent-eu-fr-1"]
    os.kill(agent, signal.SIGSTOP)
    frozen = time.monotonic()
    try:
        # Past the heartbeat timeout (the member is Offline: no new work goes there), short of the grace.
        world.wait(lambda: _ready(world, "eu-fr-1") == "False/Offline", 3 * HEARTBEAT_TIMEOUT, "eu-fr-1 Offline")
        offline = time.monotonic() - frozen
        # Watched until half the grace is over, counted from the freeze (Lost comes at timeout + grace).
        until = frozen + HEARTBEAT_TIMEOUT + OFFLINE_GRACE / 2
        while True:
            assert snapshot(world) == before
            assert _ready(world, "eu-fr-1") == "False/Offline"
            if time.monotonic() >= until:
                break
            time.sleep(0.2)
        assert readable(world, "marketing-eu-fr") > 0  # its module on eu-fr-1 serves all along
    finally:
        os.kill(agent, signal.SIGCONT)
    thawed = time.monotonic()
    world.wait(lambda: _ready(world, "eu-fr-1") == "True/Heartbeat", 30, "eu-fr-1 Ready again")
    print(f"Offline {offline:.1f}s after the freeze, Ready {time.monotonic() - thawed:.1f}s after the thaw")
    assert snapshot(world) == before
    assert_converged(world)


def test_a_stall_of_the_hub_store_is_not_held_against_members(world: World) -> None:
    before = _settle(world)
    seen: set[str] = set()
    stall = sqlite3.connect(Path(world.paths.hub / "hub.db"), isolation_level=None)
    try:
        stall.execute("BEGIN IMMEDIATE")  # no process can write to the hub store (reads go on)
        until = time.monotonic() + 2 * HEARTBEAT_TIMEOUT
        while time.monotonic() < until:
            seen |= {_ready(world, c) for c in ("eu-de-1", "eu-fr-1")}
            time.sleep(0.1)
    finally:
        stall.execute("ROLLBACK")
        stall.close()
    until = time.monotonic() + 2 * HEARTBEAT_TIMEOUT  # what the registry makes of the stall, once over
    while time.monotonic() < until:
        seen |= {_ready(world, c) for c in ("eu-de-1", "eu-fr-1")}
        time.sleep(0.1)
    assert seen == {"True/Heartbeat"}
    assert snapshot(world) == before
    assert_converged(world)
