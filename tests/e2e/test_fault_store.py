"""A damaged hub store: every service says so once and stops (no retry loop, no traceback);
`m4d hub repair` rebuilds it from what can be read; the restarted services converge."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from m4d.api import M4DApplication
from m4d.demo import services
from m4d.demo.setup import m4d, service_list, submit_applications
from tests.e2e.conftest import HEARTBEAT, World
from tests.e2e.faults import assert_converged, readable

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def _damage_objects(db: Path) -> int:
    """Noise over every page of the objects table (its rows; the event log is left readable), as a torn
    write or a lost WAL would leave them. The number of pages damaged."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the file itself, nothing in the WAL
    pages = [int(r[0]) for r in conn.execute("SELECT pageno FROM dbstat WHERE name='objects' AND pagetype='leaf'")]
    size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    conn.close()
    with db.open("r+b") as f:
        for page in pages:
            f.seek((page - 1) * size)
            f.write(os.urandom(size))
    return len(pages)


def test_damaged_hub_store_is_reported_once_and_repaired(world: World) -> None:
    submit_applications(world.paths, world.say)
    world.wait_settled()
    assert_converged(world)
    names = sorted(a.name for a in world.hub.list(M4DApplication).items)
    world.hub.close()
    # A crash leaves the store damaged: every service is gone, the modules run on.
    for name, pid in services.running(world.paths.hub).items():
        os.killpg(pid, signal.SIGKILL)
        world.wait(lambda name=name: name not in services.running(world.paths.hub), 20, f"{name} killed")
    db = world.paths.hub / "hub.db"
    assert _damage_objects(db) > 0
    logs = world.paths.hub / "logs"
    for log in logs.glob("*.log"):
        log.unlink()
    started = time.monotonic()
    for service in service_list(HEARTBEAT):
        services.start(world.paths.hub, service)

    def all_stopped() -> bool:
        return not services.running(world.paths.hub)

    world.wait(all_stopped, 60, "every service stopped by itself")
    print(f"every service stopped {time.monotonic() - started:.1f}s after start")
    for log in sorted(logs.glob("*.log")):
        text = log.read_text(errors="replace")
        assert "Traceback" not in text, f"{log.name}:\n{text}"
        reports = [line for line in text.splitlines() if "is damaged" in line]
        assert len(reports) == 1, f"{log.name} should say once that the store is damaged:\n{text}"
        assert "m4d hub repair" in reports[0] and str(db) in reports[0]
    out = m4d(world.paths.hub, "hub", "repair")
    assert "was damaged" in out and "hub.db.damaged-" in out, out
    assert "lost" not in out, out  # the event log held every object
    assert "intact" in m4d(world.paths.hub, "hub", "repair", "--check")
    for service in service_list(HEARTBEAT):
        services.start(world.paths.hub, service)
    world.hub = type(world.hub)(db, name="hub")
    assert sorted(a.name for a in world.hub.list(M4DApplication).items) == names
    world.wait_settled()
    assert readable(world, "fraud-detection") == 5_000
    assert_converged(world)
