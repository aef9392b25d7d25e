"""The controller runtime against the embedded store, with a small sample controller."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from m4d.api import M4DApplication, MemberCluster
from m4d.api.application import M4DApplicationStatus
from m4d.api.meta import Condition, find_condition, set_condition
from m4d.cluster.local import LocalCluster
from m4d.errors import NotFoundError, PermanentError, TemporaryError
from m4d.runtime.controller import Controller, ObjectKey, Outcome, Watch
from m4d.runtime.manager import Manager
from tests.factories import application, member


@dataclass
class SampleController(Controller[M4DApplication]):
    """Marks an application Ready once it has an intent; counts what it does."""

    fail_times: dict[str, int] = field(default_factory=dict)
    permanent: set[str] = field(default_factory=set)
    delay: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)
    finalized: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.kind = M4DApplication
        self.name = "sample"
        self.finalizer = "app.m4d.dev/sample"

    def watches(self) -> Sequence[Watch]:
        def all_apps(_: object) -> list[ObjectKey]:
            return [ObjectKey.of(a) for a in self.cluster.list(M4DApplication).items]

        return [Watch(MemberCluster, all_apps)]

    def reconcile(self, obj: M4DApplication) -> Outcome:
        self.calls[obj.name] += 1
        if self.delay:
            time.sleep(self.delay)
        if self.fail_times.get(obj.name, 0) > 0:
            self.fail_times[obj.name] -= 1
            raise TemporaryError("catalog unreachable", delay=0.01)
        if obj.name in self.permanent:
            raise PermanentError("asset x is not in the catalog", reason="AssetNotFound")
        clusters = len(self.cluster.list(MemberCluster).items)
        status = obj.status or M4DApplicationStatus()
        ready = Condition(type="Ready", status="True", reason="Planned", message=f"{clusters} cluster(s)")
        return Outcome(
            status=status.model_copy(update={"ready": True, "conditions": set_condition(status.conditions, ready)})
        )

    def finalize(self, obj: M4DApplication) -> Outcome:
        self.finalized.append(obj.name)
        return Outcome()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LocalCluster]:
    store = LocalCluster(tmp_path / "hub.db", name="hub")
    yield store
    store.close()


def status_of(hub: LocalCluster, name: str) -> M4DApplicationStatus:
    status = hub.get(M4DApplication, name, "default").status
    assert status is not None
    return status


def test_reconciles_every_object_and_writes_status_once(hub: LocalCluster) -> None:
    for name in ("a", "b", "c"):
        hub.create(application(name))
    controller = SampleController(hub)
    manager = Manager([controller])
    assert manager.run_until_idle(timeout=10)
    for name in ("a", "b", "c"):
        status = status_of(hub, name)
        assert status.ready and status.observed_generation == 1
        assert hub.get(M4DApplication, name, "default").metadata.finalizers == ["app.m4d.dev/sample"]
    assert manager.runners[0].stats.status_writes == 3
    # A second run over an unchanged world writes nothing.
    again = Manager([SampleController(hub)])
    assert again.run_until_idle(timeout=10)
    assert again.runners[0].stats.status_writes == 0


def test_finalizers_wake_a_controller_only_when_its_own_is_lost(hub: LocalCluster) -> None:
    hub.create(application("a"))
    controller = SampleController(hub)
    manager = Manager([controller])

    def edit_finalizers(change: Callable[[list[str]], list[str]]) -> None:
        app = hub.get(M4DApplication, "a", "default")
        app.metadata.finalizers = change(app.metadata.finalizers)
        hub.update(app)

    manager.start()
    try:
        wait_until(lambda: manager.idle() and controller.calls["a"])
        assert controller.calls["a"] == 1  # it added its finalizer, then reconciled; the addition woke nothing
        edit_finalizers(lambda fs: [*fs, "example.com/other"])  # another controller's
        edit_finalizers(lambda fs: [f for f in fs if f != controller.finalizer])
        wait_until(lambda: controller.finalizer in hub.get(M4DApplication, "a", "default").metadata.finalizers)
        wait_until(manager.idle)
        assert controller.calls["a"] == 2  # the loss only
        assert hub.get(M4DApplication, "a", "default").metadata.finalizers == [
            "example.com/other",
            controller.finalizer,
        ]
    finally:
        manager.stop()


def wait_until(check: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.02)


def test_temporary_errors_retry_until_success(hub: LocalCluster) -> None:
    hub.create(application("a"))
    controller = SampleController(hub, fail_times={"a": 3})
    assert Manager([controller]).run_until_idle(timeout=10)
    assert controller.calls["a"] >= 4  # three failures, then the success
    assert status_of(hub, "a").ready


def test_run_until_idle_reports_keys_still_failing(hub: LocalCluster) -> None:
    hub.create(application("a"))
    manager = Manager([SampleController(hub, fail_times={"a": 10_000})])
    assert not manager.run_until_idle(timeout=1.0)
    assert "catalog unreachable" in next(iter(manager.failing().values()))


def test_permanent_error_becomes_a_condition_without_retries(hub: LocalCluster) -> None:
    hub.create(application("a"))
    controller = SampleController(hub, permanent={"a"})
    assert Manager([controller]).run_until_idle(timeout=10)
    status = status_of(hub, "a")
    ready = find_condition(status.conditions, "Ready")
    assert ready is not None and ready.status == "False"
    assert ready.reason == "AssetNotFound" and "not in the catalog" in ready.message
    assert ready.observed_generation == 1 and status.observed_generation == 1
    assert controller.calls["a"] <= 2  # the status write may wake it once; no retry loop


def test_changes_of_watched_kinds_requeue(hub: LocalCluster) -> None:
    hub.create(application("a"))
    controller = SampleController(hub)
    assert Manager([controller]).run_until_idle(timeout=10)
    hub.create(member("m1"))
    assert Manager([controller]).run_until_idle(timeout=10)
    ready = find_condition(status_of(hub, "a").conditions, "Ready")
    assert ready is not None and ready.message == "1 cluster(s)"


def test_finalizer_runs_before_the_object_goes(hub: LocalCluster) -> None:
    hub.create(application("a"))
    controller = SampleController(hub)
    assert Manager([controller]).run_until_idle(timeout=10)
    hub.delete(M4DApplication, "a", "default")
    assert Manager([controller]).run_until_idle(timeout=10)
    assert controller.finalized == ["a"]
    with pytest.raises(NotFoundError):
        hub.get(M4DApplication, "a", "default")


def test_bursts_of_changes_are_deduplicated(hub: LocalCluster) -> None:
    app = hub.create(application("a"))
    controller = SampleController(hub, delay=0.2)
    manager = Manager([controller])
    manager.start()
    try:
        for i in range(20):
            app.metadata.labels = {"n": str(i)}
            app.metadata.resource_version = None
            hub.update(app)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (manager.idle() and controller.calls["a"] > 0):
            time.sleep(0.05)
    finally:
        manager.stop()
    assert 1 <= controller.calls["a"] < 10


def test_restart_mid_stream_converges(hub: LocalCluster, tmp_path: Path) -> None:
    for i in range(10):
        hub.create(application(f"a{i}"))
    first = Manager([SampleController(hub, delay=0.05)])
    first.start()
    time.sleep(0.2)  # stop part way through
    first.stop()
    # Changes made while no controller runs are picked up by the next one.
    for i in range(0, 10, 2):
        app = hub.get(M4DApplication, f"a{i}", "default")
        app.spec.app_info.intent = "Marketing"
        hub.update(app)
    reopened = LocalCluster(tmp_path / "hub.db", name="hub")
    try:
        assert Manager([SampleController(reopened)]).run_until_idle(timeout=15)
        for app in reopened.list(M4DApplication).items:
            assert app.status is not None and app.status.ready
            assert app.status.observed_generation == app.metadata.generation
    finally:
        reopened.close()


def test_stop_is_graceful(hub: LocalCluster) -> None:
    hub.create(application("a"))
    controller = SampleController(hub, delay=0.5)
    manager = Manager([controller])
    stop = threading.Event()
    thread = threading.Thread(target=manager.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 5
    while controller.calls["a"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    assert status_of(hub, "a").ready  # the reconcile in flight finished and wrote its status
