"""Two hubs started on one hub directory: one leads, the other waits as standby and changes nothing; when
the leader dies the standby takes over and the flow goes on."""

from __future__ import annotations

import signal
import time

import pytest
import yaml

from m4d.demo import services
from m4d.demo.setup import m4d, submit_applications
from tests.e2e.conftest import World
from tests.e2e.faults import assert_converged, endpoint, kill, readable, settle

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

TAKEN_OVER_WITHIN = 10.0


def _log(world: World, name: str) -> str:
    return (world.paths.hub / "logs" / f"{name}.log").read_text(errors="replace")


def _apply_copy(world: World, of: str, name: str) -> None:
    app = yaml.safe_load((world.paths.applications / f"{of}.yaml").read_text())
    app["metadata"]["name"] = name
    path = world.paths.hub / f"{name}.yaml"
    path.write_text(yaml.safe_dump(app))
    m4d(world.paths.hub, "apply", "-f", str(path))


def test_a_second_hub_waits_as_standby_and_takes_over(world: World) -> None:
    submit_applications(world.paths, world.say)
    before = settle(world)
    services.start(world.paths.hub, services.Service("hub-2", ("hub", "run")))
    world.wait(lambda: "standby:" in _log(world, "hub-2"), 60, "the second hub on standby")
    # The standby changes nothing (no start-up sync from its own view, no commit, no restart).
    assert settle(world) == before

    # The leader goes on alone: a new application is served.
    _apply_copy(world, "fraud-detection", "fraud-later")
    world.wait(lambda: endpoint(world, "fraud-later") is not None, 90, "fraud-later served by the leader")
    assert "leading" not in _log(world, "hub-2")

    killed = time.monotonic()
    kill(world, "hub", signal.SIGKILL)
    world.wait(lambda: "leading" in _log(world, "hub-2"), TAKEN_OVER_WITHIN, "the standby leading")
    took = time.monotonic() - killed
    print(f"standby leading {took:.1f}s after the leader was killed")
    _apply_copy(world, "fraud-detection", "fraud-after")
    world.wait(lambda: endpoint(world, "fraud-after") is not None, 90, "fraud-after served by the new leader")
    settle(world)
    assert readable(world, "fraud-after") == 5_000
    assert readable(world, "fraud-later") == 5_000
    for name in ("hub", "hub-2"):
        assert "Traceback" not in _log(world, name), f"{name} logged a traceback"
    assert_converged(world)
