"""The whole flow on the embedded default: real processes (hub, sync, agents, modules), real Git, Flight."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from m4d.api import M4DApplication
from m4d.cluster.local import LocalCluster
from m4d.demo import services
from m4d.demo.progress import settled
from m4d.demo.setup import bring_up
from m4d.demo.world import DemoPaths

pytestmark = pytest.mark.e2e

# Short enough that an agent going quiet is noticed within a test, long enough for a loaded CI machine.
HEARTBEAT = 0.5
HEARTBEAT_TIMEOUT = 4.0
# A member silent this much longer is Lost and its placements move; a shorter silence changes nothing.
OFFLINE_GRACE = 8.0


@dataclass
class World:
    paths: DemoPaths
    hub: LocalCluster
    log: list[str] = field(default_factory=list)

    def say(self, stage: str, message: str) -> None:
        self.log.append(f"{stage}: {message}")

    def app(self, name: str) -> M4DApplication:
        return self.hub.get(M4DApplication, name, "default")

    def wait(self, check: Callable[[], bool], timeout: float = 90.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                logs = "\n".join(
                    f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-15:])
                    for p in sorted((self.paths.hub / "logs").glob("*.log"))
                )
                raise AssertionError(f"{what} not reached in {timeout:g}s\n{logs}")
            time.sleep(0.1)

    def wait_settled(self, timeout: float = 120.0) -> None:
        self.wait(lambda: settled(self.hub)[0], timeout, "every application settled")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    log: list[str] = []
    paths = bring_up(
        tmp_path / "hub",
        rows=5_000,
        say=lambda stage, message: log.append(f"{stage}: {message}"),
        heartbeat=HEARTBEAT,
        hub_settings={"heartbeatTimeout": HEARTBEAT_TIMEOUT, "offlineGrace": OFFLINE_GRACE},
    )
    hub = LocalCluster(paths.hub / "hub.db", name="hub")
    try:
        yield World(paths, hub, log)
    finally:
        hub.close()
        services.stop_all(paths.hub)
