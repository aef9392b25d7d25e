"""Several workers per controller: keys in parallel, one key never on two workers, no change lost."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from m4d.api import M4DApplication
from m4d.api.application import M4DApplicationStatus
from m4d.cluster.connect import HubLayout
from m4d.cluster.local import LocalCluster
from m4d.controllers.hub import DEFAULT_WORKERS, HubConfig, build_hub
from m4d.runtime.controller import Controller, Outcome
from m4d.runtime.manager import Manager
from m4d.runtime.queue import WorkQueue
from tests.factories import application


@dataclass
class GatedController(Controller[M4DApplication]):
    """Reconciles wait on a gate per application name (a slow connector); records what ran when."""

    gates: dict[str, threading.Event] = field(default_factory=dict)
    active: set[str] = field(default_factory=set)
    overlaps: list[str] = field(default_factory=list)
    seen_generations: dict[str, list[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    entered: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        self.kind = M4DApplication
        self.name = "gated"

    def reconcile(self, obj: M4DApplication) -> Outcome:
        with self.lock:
            if obj.name in self.active:
                self.overlaps.append(obj.name)
            self.active.add(obj.name)
            self.seen_generations.setdefault(obj.name, []).append(obj.metadata.generation or 0)
        with self.entered:
            self.entered.notify_all()
        try:
            gate = self.gates.get(obj.name)
            if gate is not None:
                assert gate.wait(30), "the gate was never opened"
            return Outcome(status=M4DApplicationStatus(ready=True))
        finally:
            with self.lock:
                self.active.discard(obj.name)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LocalCluster]:
    store = LocalCluster(tmp_path / "hub.db", name="hub")
    yield store
    store.close()


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def ready(hub: LocalCluster, name: str) -> bool:
    status = hub.get(M4DApplication, name, "default").status
    return status is not None and status.ready


def test_a_slow_reconcile_holds_one_worker_and_the_others_go_on(hub: LocalCluster) -> None:
    slow = threading.Event()
    controller = GatedController(hub, gates={"slow": slow})
    controller.workers = 4
    hub.create(application("slow"))
    for i in range(12):
        hub.create(application(f"fast{i}"))
    manager = Manager([controller])
    manager.start()
    try:
        wait_for(lambda: all(ready(hub, f"fast{i}") for i in range(12)))
        assert not ready(hub, "slow")  # still waiting on its connector, and nobody waited for it
        slow.set()
        wait_for(lambda: ready(hub, "slow"))
    finally:
        slow.set()
        manager.stop()


def test_with_one_worker_a_slow_reconcile_delays_everything(hub: LocalCluster) -> None:
    """The counterpart of the test above: what several workers are for."""
    slow = threading.Event()
    controller = GatedController(hub, gates={"a-slow": slow})
    hub.create(application("a-slow"))
    hub.create(application("b-fast"))
    manager = Manager([controller])
    manager.start()
    try:
        with controller.entered:
            assert controller.entered.wait_for(lambda: "a-slow" in controller.active, 20)
        time.sleep(0.3)
        assert not ready(hub, "b-fast")
        slow.set()
        wait_for(lambda: ready(hub, "b-fast"))
    finally:
        slow.set()
        manager.stop()


def test_one_key_is_never_on_two_workers_and_a_change_meanwhile_runs_again(hub: LocalCluster) -> None:
    gate = threading.Event()
    controller = GatedController(hub, gates={"a": gate})
    controller.workers = 8
    app = hub.create(application("a"))
    manager = Manager([controller])
    manager.start()
    try:
        with controller.entered:
            assert controller.entered.wait_for(lambda: "a" in controller.active, 20)
        # Changed three times while its reconcile is in flight (and with idle workers to spare).
        for intent in ("Marketing", "Research", "Fraud Detection"):
            app = hub.get(M4DApplication, "a", "default")
            app.spec.app_info.intent = intent
            hub.update(app)
        time.sleep(0.3)
        assert controller.seen_generations["a"] == [1]  # nobody else picked it up meanwhile
        gate.set()
        wait_for(lambda: controller.seen_generations["a"][-1] == 4 and manager.idle())
    finally:
        gate.set()
        manager.stop()
    assert controller.overlaps == []
    assert controller.seen_generations["a"][0] == 1 and len(controller.seen_generations["a"]) <= 3


def test_queue_hands_a_key_out_once_until_done() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    queue.add("b")
    assert queue.get(timeout=0.1) == "a"
    queue.add("a")  # changed while processed: waits for done()
    assert queue.get(timeout=0.1) == "b"
    assert queue.get(timeout=0.05) is None
    queue.done("a")
    assert queue.get(timeout=0.1) == "a"


def test_the_hub_runs_as_many_workers_as_configured(tmp_path: Path, hub: LocalCluster) -> None:
    layout = HubLayout(tmp_path / "hubdir")
    layout.root.mkdir()
    assert HubConfig.load(layout).workers == DEFAULT_WORKERS
    (layout.root / "hub.yaml").write_text("workers: 7\n")
    built = build_hub(hub, HubConfig.load(layout))
    try:
        assert {c.workers for c in built.controllers} == {7}
    finally:
        built.close()
