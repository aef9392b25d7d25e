"""Member liveness from heartbeats, through the registry controller on an embedded hub."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from m4d.api import MemberCluster
from m4d.api.cluster import MemberClusterStatus
from m4d.api.meta import find_condition, utcnow
from m4d.cluster.local import LocalCluster
from m4d.controllers.registry.liveness import ClusterRegistry, liveness
from m4d.runtime.manager import Manager
from tests.factories import member

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def with_beat(age: float | None) -> MemberCluster:
    mc = member("m1")
    if age is not None:
        mc.status = MemberClusterStatus(last_heartbeat=NOW - timedelta(seconds=age))
    return mc


def test_liveness_verdicts() -> None:
    fresh, again = liveness(with_beat(3), NOW)
    assert (fresh.status, fresh.reason) == ("True", "Heartbeat") and 12 <= again <= 12.5
    stale, _ = liveness(with_beat(40), NOW)
    assert (stale.status, stale.reason) == ("False", "Offline") and "no heartbeat for 40s" in stale.message
    never, _ = liveness(with_beat(None), NOW)
    assert never.reason == "NoHeartbeat"


def test_registry_marks_members_and_notices_silence(tmp_path: Path) -> None:
    hub = LocalCluster(tmp_path / "hub.db")
    hub.create(member("m1"))
    hub.create(member("m2"))
    for name, age in (("m1", 1), ("m2", 60)):
        mc = hub.get(MemberCluster, name)
        mc.status = MemberClusterStatus(last_heartbeat=utcnow() - timedelta(seconds=age))
        hub.update_status(mc)
    registry = ClusterRegistry(hub, timeout=timedelta(seconds=2))
    assert Manager([registry]).run_until_idle(timeout=10)

    def ready(name: str) -> str:
        status = hub.get(MemberCluster, name).status
        condition = find_condition(status.conditions, "Ready") if status else None
        return f"{condition.status}/{condition.reason}" if condition else "none"

    assert ready("m1") == "True/Heartbeat"
    assert ready("m2") == "False/Offline"
    manager = Manager([registry])
    manager.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=8)
        while ready("m1") != "False/Offline" and datetime.now(UTC) < deadline:
            time.sleep(0.1)
    finally:
        manager.stop()
    assert ready("m1") == "False/Offline"  # its heartbeat went stale while the registry ran
    hub.close()
