"""Member liveness from heartbeats, through the registry controller on an embedded hub."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from m4d.api import MemberCluster
from m4d.api.cluster import MemberClusterStatus
from m4d.api.meta import find_condition, utcnow
from m4d.cluster.local import LocalCluster
from m4d.controllers.agent.heartbeat import beat
from m4d.controllers.registry.liveness import ClusterRegistry, liveness
from m4d.errors import ConflictError
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
    stale, again = liveness(with_beat(40), NOW)
    assert (stale.status, stale.reason) == ("False", "Offline") and "no heartbeat for 40s" in stale.message
    assert 35 <= again <= 35.5  # when it would be Lost
    lost, _ = liveness(with_beat(80), NOW)
    assert (lost.status, lost.reason) == ("False", "Lost") and "placed elsewhere" in lost.message
    never, _ = liveness(with_beat(None), NOW)
    assert never.reason == "NoHeartbeat"


def test_silence_before_the_hub_could_count_it_is_not_counted() -> None:
    # The hub started (or its store recovered from a stall) 5 s ago: a 40 s old heartbeat is 5 s of silence.
    verdict, again = liveness(with_beat(40), NOW, counting_since=NOW - timedelta(seconds=5))
    assert verdict.reason == "Heartbeat" and 10 <= again <= 10.5
    verdict, _ = liveness(with_beat(400), NOW, counting_since=NOW - timedelta(seconds=30))
    assert verdict.reason == "Offline"


def test_registry_marks_members_and_notices_silence(tmp_path: Path) -> None:
    hub = LocalCluster(tmp_path / "hub.db")
    hub.create(member("m1"))
    hub.create(member("m2"))
    for name, age in (("m1", 1), ("m2", 60)):
        mc = hub.get(MemberCluster, name)
        mc.status = MemberClusterStatus(last_heartbeat=utcnow() - timedelta(seconds=age))
        hub.update_status(mc)
    registry = ClusterRegistry(hub, timeout=timedelta(seconds=2), grace=timedelta(seconds=2))
    assert Manager([registry]).run_until_idle(timeout=10)

    def ready(name: str) -> str:
        status = hub.get(MemberCluster, name).status
        condition = find_condition(status.conditions, "Ready") if status else None
        return f"{condition.status}/{condition.reason}" if condition else "none"

    # Silence from before the registry started is not held against a member: both are fresh for now.
    assert ready("m1") == "True/Heartbeat"
    assert ready("m2") == "True/Heartbeat"
    manager = Manager([registry])
    manager.start()
    seen: set[str] = set()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=20)
        while {ready("m1"), ready("m2")} != {"False/Lost"} and datetime.now(UTC) < deadline:
            seen.add(ready("m1"))
            time.sleep(0.05)
    finally:
        manager.stop()
    assert "False/Offline" in seen  # Offline first (no new work), then Lost (its work moves)
    assert ready("m1") == "False/Lost"
    assert ready("m2") == "False/Lost"
    hub.close()


def test_a_stall_of_the_hub_store_is_not_held_against_members(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    hub = LocalCluster(path)
    hub.create(member("m1"))
    stop = threading.Event()

    def agent() -> None:  # beats as an agent does, through its own connection (blocked while the store is)
        own = LocalCluster(path)
        while not stop.is_set():
            beat(own, "m1")
            stop.wait(0.2)
        own.close()

    beats = threading.Thread(target=agent)
    beats.start()
    manager = Manager([ClusterRegistry(hub, timeout=timedelta(seconds=1), grace=timedelta(seconds=30))])
    manager.start()
    seen: list[str] = []

    def ready() -> str:
        status = hub.get(MemberCluster, "m1").status
        condition = find_condition(status.conditions, "Ready") if status else None
        return f"{condition.status}/{condition.reason}" if condition else "none"

    try:
        deadline = time.monotonic() + 10
        while ready() != "True/Heartbeat" and time.monotonic() < deadline:
            time.sleep(0.05)
        stall = sqlite3.connect(path, isolation_level=None)
        stall.execute("BEGIN IMMEDIATE")  # nobody writes for 3 s (readers go on: WAL)
        until = time.monotonic() + 3
        while time.monotonic() < until:
            seen.append(ready())
            time.sleep(0.05)
        stall.execute("ROLLBACK")
        stall.close()
        until = time.monotonic() + 3
        while time.monotonic() < until:
            seen.append(ready())
            time.sleep(0.05)
    finally:
        stop.set()
        beats.join(10)
        manager.stop()
        hub.close()
    assert set(seen) == {"True/Heartbeat"}, sorted(set(seen))


def test_the_registry_wakes_for_heartbeats_not_for_what_the_sync_applied() -> None:
    registry = ClusterRegistry(None)  # type: ignore[arg-type]  # only its wake-up rule is asked
    now = utcnow()
    old = member("m1")
    old.status = MemberClusterStatus(last_heartbeat=now, applied_revision="a" * 40)
    synced = old.model_copy(update={"status": old.status.model_copy(update={"applied_revision": "b" * 40})})
    beaten = old.model_copy(update={"status": old.status.model_copy(update={"last_heartbeat": now + timedelta(1)})})
    assert not registry.wakes_on_status(old, synced)
    assert registry.wakes_on_status(old, beaten)
    verdict, _ = liveness(beaten, now)
    judged = old.model_copy(update={"status": old.status.model_copy(update={"conditions": [verdict]})})
    assert registry.wakes_on_status(old, judged)  # someone else's Ready condition is looked at again


class _StuckFor(LocalCluster):
    """The embedded store, with the writes of one member's status held until released (a stall that the
    store's lock, not this test, would cause for every writer)."""

    def __init__(self, path: Path, name: str) -> None:
        super().__init__(path)
        self.stuck, self.entered, self.release = name, threading.Event(), threading.Event()

    def update_status(self, obj: MemberCluster) -> MemberCluster:  # type: ignore[override]
        if obj.name == self.stuck:
            self.entered.set()
            self.release.wait(30)
        return super().update_status(obj)


def test_a_verdict_asked_while_another_probe_is_stuck_waits_for_its_answer(tmp_path: Path) -> None:
    # Worker A's probe is stuck in the stalled store; worker B is asked about another member meanwhile (a
    # heartbeat written before the stall, landing stale once it ends, wakes it). B's own write would go
    # through at once and "prove" the store healthy: B must take A's answer instead.
    hub = _StuckFor(tmp_path / "hub.db", "m1")
    for name in ("m1", "m2"):
        hub.create(member(name))
    registry = ClusterRegistry(hub, timeout=timedelta(seconds=1), grace=timedelta(seconds=30))
    answers: dict[str, bool] = {}

    def probe(name: str) -> None:
        answers[name] = registry._stalled(hub.get(MemberCluster, name))

    first = threading.Thread(target=probe, args=("m1",))
    first.start()
    assert hub.entered.wait(10)
    second = threading.Thread(target=probe, args=("m2",))
    second.start()
    time.sleep(1.2)  # A's probe has now waited longer than a healthy write takes (STALL)
    hub.release.set()
    first.join(10)
    second.join(10)
    hub.close()
    assert answers == {"m1": True, "m2": True}


def test_a_heartbeat_landing_as_the_stall_ends_does_not_hide_the_stall(tmp_path: Path) -> None:
    # The probe waits out the stall; meanwhile an agent's heartbeat, stamped before the stall, lands first:
    # the probe's write then conflicts. The stall still counts, so the stale heartbeat is not held against m1.
    path = tmp_path / "hub.db"
    hub = _StuckFor(path, "m1")
    hub.create(member("m1"))
    registry = ClusterRegistry(hub, timeout=timedelta(seconds=1), grace=timedelta(seconds=30))
    registry._counting_since = utcnow() - timedelta(minutes=1)  # a hub that has run for a while
    stale = hub.get(MemberCluster, "m1")
    raised: list[Exception] = []

    def probe() -> None:
        try:
            registry._stalled(stale)
        except ConflictError as exc:
            raised.append(exc)

    thread = threading.Thread(target=probe)
    thread.start()
    assert hub.entered.wait(10)
    agent = LocalCluster(path)
    landed = agent.get(MemberCluster, "m1")
    landed.status = MemberClusterStatus(last_heartbeat=utcnow() - timedelta(seconds=5))
    agent.update_status(landed)
    agent.close()
    time.sleep(1.2)  # the probe has waited longer than a healthy write takes (STALL)
    hub.release.set()
    thread.join(10)
    newer = hub.get(MemberCluster, "m1")
    hub.close()
    assert raised  # the runtime reads the newer object and comes back
    condition, _ = liveness(newer, utcnow(), timedelta(seconds=1), timedelta(seconds=30), registry._counting_since)
    assert (condition.status, condition.reason) == ("True", "Heartbeat")
