"""Heartbeat gaps: a member silent for less than its grace period, or a stall of the hub's own store,
changes nothing (no commit, no endpoint moves, no module restarts, data keeps flowing)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from m4d.api import M4DApplication, MemberCluster
from m4d.api.meta import find_condition
from m4d.demo import services
from m4d.demo.setup import submit_applications
from tests.e2e.conftest import HEARTBEAT_TIMEOUT, OFFLINE_GRACE, World
from tests.e2e.faults import assert_converged, readable

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

Snapshot = tuple[str, dict[str, tuple[bool, dict[str, str]]], dict[str, str]]


def _head(world: World) -> str:
    git = ["git", "--git-dir", str(world.paths.hub / "gitops.git"), "rev-parse", "main"]
    return subprocess.run(git, capture_output=True, text=True, check=True).stdout.strip()


def _pids(world: World) -> dict[str, str]:
    return {str(p.parent): p.read_text() for p in (world.paths.hub / "run").glob("*/*/*/*/pid")}


def _snapshot(world: World) -> Snapshot:
    """The Git head, each application's readiness and endpoints, each module instance's process."""
    apps = {}
    for app in world.hub.list(M4DApplication).items:
        states = app.status.asset_states if app.status else {}
        endpoints = {k: s.endpoint.url for k, s in states.items() if s.endpoint is not None}
        apps[app.name] = (bool(app.status and app.status.ready), endpoints)
    return _head(world), apps, _pids(world)


def _ready(world: World, cluster: str) -> str:
    status = world.hub.get(MemberCluster, cluster).status
    condition = find_condition(status.conditions, "Ready") if status else None
    return f"{condition.status}/{condition.reason}" if condition else "none"


def _settle(world: World) -> Snapshot:
    submit_applications(world.paths, world.say)
    world.wait_settled()
    assert_converged(world)
    return _snapshot(world)


def test_an_agent_frozen_for_less_than_the_grace_period_changes_nothing(world: World) -> None:
    before = _settle(world)
    agent = services.running(world.paths.hub)["agent-eu-fr-1"]
    os.kill(agent, signal.SIGSTOP)
    try:
        # Past the heartbeat timeout (the member is Offline: no new work goes there), short of the grace.
        world.wait(lambda: _ready(world, "eu-fr-1") == "False/Offline", 3 * HEARTBEAT_TIMEOUT, "eu-fr-1 Offline")
        until = time.monotonic() + OFFLINE_GRACE / 2
        while time.monotonic() < until:
            assert _snapshot(world) == before
            assert _ready(world, "eu-fr-1") == "False/Offline"
            time.sleep(0.2)
        assert readable(world, "marketing-eu-fr") > 0  # its module on eu-fr-1 serves all along
    finally:
        os.kill(agent, signal.SIGCONT)
    world.wait(lambda: _ready(world, "eu-fr-1") == "True/Heartbeat", 30, "eu-fr-1 Ready again")
    assert _snapshot(world) == before
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
    assert _snapshot(world) == before
    assert_converged(world)
