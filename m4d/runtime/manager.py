"""Runs controllers: informers feed work queues, workers reconcile, status is written once.

Several controllers share one process (and may sit on different clusters, e.g. the member agent reads
its member and writes the hub). Everything is level-triggered: a restart lists again and converges.
"""

from __future__ import annotations

import logging
import threading
import time
import typing
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from m4d.api.meta import Condition, Resource, set_condition
from m4d.api.registry import kind_info
from m4d.errors import ConflictError, NotFoundError, PermanentError, TemporaryError
from m4d.runtime.controller import Controller, ObjectKey, Outcome
from m4d.runtime.informer import Informer
from m4d.runtime.queue import WorkQueue

log = logging.getLogger("m4d.runtime")

BACKOFF_BASE = 0.25
BACKOFF_MAX = 60.0


def backoff(failures: int) -> float:
    return float(min(BACKOFF_BASE * 2 ** max(failures - 1, 0), BACKOFF_MAX))


def status_type(kind: type[Resource]) -> type[BaseModel]:
    """The status model of a kind (its `status` field is `Status | None`)."""
    annotation = kind.model_fields["status"].annotation
    for arg in typing.get_args(annotation) or (annotation,):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    raise TypeError(f"{kind.__name__}.status is not a model")


@dataclass
class Stats:
    """Counters of one controller; workers update them under `lock`."""

    reconciles: int = 0
    status_writes: int = 0
    temporary_errors: int = 0
    permanent_errors: int = 0
    failing: dict[ObjectKey, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, what: str) -> None:
        with self.lock:
            setattr(self, what, getattr(self, what) + 1)


class Runner:
    """One controller's informers, queue and workers."""

    def __init__(self, controller: Controller[Any]) -> None:
        self.controller = controller
        self.queue: WorkQueue[ObjectKey] = WorkQueue()
        self.stats = Stats()
        self._failures: dict[ObjectKey, int] = {}
        c = controller
        c.attach(self.queue.add)
        self.informers = [
            Informer(c.cluster, c.kind, lambda o: [ObjectKey.of(o)], self.queue, c.namespace, owner=c.name)
        ]
        self.informers[0].skip_status_only = not c.reconcile_on_status
        for w in c.watches():
            self.informers.append(
                Informer(w.cluster or c.cluster, w.kind, w.to_keys, self.queue, w.namespace, w.label_selector, c.name)
            )

    # -- one key ------------------------------------------------------------------------------

    def process(self, key: ObjectKey) -> None:
        c = self.controller
        try:
            requeue = self._reconcile_key(key)
        except TemporaryError as exc:
            failures = self._note_failure(key, str(exc))
            delay = exc.delay if exc.delay is not None else backoff(failures)
            if isinstance(exc, ConflictError):
                log.debug("%s %s: %s; retrying", c.name, key, exc)
            else:
                self.stats.count("temporary_errors")
                log.warning("%s %s: %s (retry %d in %.1fs)", c.name, key, exc, failures, delay)
            self.queue.add_after(key, delay)
            return
        except Exception as exc:
            # A bug in a reconcile must not kill the worker; treat it as temporary and say so loudly.
            failures = self._note_failure(key, f"{type(exc).__name__}: {exc}")
            self.stats.count("temporary_errors")
            log.exception("%s %s: reconcile crashed (retry %d)", c.name, key, failures)
            self.queue.add_after(key, backoff(failures))
            return
        with self.stats.lock:
            self._failures.pop(key, None)
            self.stats.failing.pop(key, None)
        if requeue is not None:
            self.queue.add_after(key, requeue)

    def _note_failure(self, key: ObjectKey, message: str) -> int:
        with self.stats.lock:
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            self.stats.failing[key] = message
            return failures

    def _reconcile_key(self, key: ObjectKey) -> float | None:
        c = self.controller
        try:
            obj = c.cluster.get(c.kind, key.name, key.namespace)
        except NotFoundError:
            return None
        self.stats.count("reconciles")
        if obj.metadata.deletion_timestamp is not None:
            return self._finalize(obj)
        if c.finalizer and c.finalizer not in obj.metadata.finalizers:
            meta = obj.metadata.model_copy(update={"finalizers": [*obj.metadata.finalizers, c.finalizer]})
            obj = c.cluster.update(obj.model_copy(update={"metadata": meta}))
        try:
            outcome = c.reconcile(obj)
        except PermanentError as exc:
            self.stats.count("permanent_errors")
            log.info("%s %s: %s: %s", c.name, key, exc.reason, exc)
            outcome = Outcome(status=self._failed_status(obj, exc))
        self._write_status(obj, outcome.status)
        return outcome.requeue_after

    def _finalize(self, obj: Resource) -> float | None:
        c = self.controller
        if not c.finalizer or c.finalizer not in obj.metadata.finalizers:
            return None
        outcome = c.finalize(obj)
        if outcome.requeue_after is not None:
            return outcome.requeue_after  # still cleaning up
        remaining = [f for f in obj.metadata.finalizers if f != c.finalizer]
        c.cluster.update(obj.model_copy(update={"metadata": obj.metadata.model_copy(update={"finalizers": remaining})}))
        return None

    def _failed_status(self, obj: Resource, exc: PermanentError) -> BaseModel:
        model = status_type(type(obj))
        current: BaseModel = getattr(obj, "status", None) or model()
        condition = Condition(
            type="Ready",
            status="False",
            reason=exc.reason,
            message=str(exc),
            observed_generation=obj.metadata.generation,
        )
        update: dict[str, Any] = {"conditions": set_condition(list(getattr(current, "conditions", [])), condition)}
        if "ready" in model.model_fields:
            update["ready"] = False
        return current.model_copy(update=update)

    def _write_status(self, obj: Resource, status: BaseModel | None) -> None:
        if status is None:
            return
        if "observed_generation" in type(status).model_fields:
            status = status.model_copy(update={"observed_generation": obj.metadata.generation})
        current = getattr(obj, "status", None)
        new_wire = status.model_dump(mode="json", by_alias=True, exclude_none=True)
        if current is not None and current.model_dump(mode="json", by_alias=True, exclude_none=True) == new_wire:
            return
        self.controller.cluster.update_status(obj.model_copy(update={"status": status}))
        self.stats.count("status_writes")

    # -- threads ------------------------------------------------------------------------------

    def work(self, stop: threading.Event) -> None:
        while not stop.is_set():
            key = self.queue.get(timeout=0.5)
            if key is None:
                continue
            try:
                self.process(key)
            finally:
                self.queue.done(key)


class Manager:
    """Start with `run(stop)` (until stop is set) or `run_until_idle(timeout)`."""

    def __init__(self, controllers: list[Controller[Any]]) -> None:
        for c in controllers:
            kind_info(c.kind)  # fail early on an unregistered kind
        self.runners = [Runner(c) for c in controllers]
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    def start(self) -> None:
        for runner in self.runners:
            for informer in runner.informers:
                self._spawn(f"watch {informer.name}", informer.run)
            for i in range(runner.controller.workers):
                self._spawn(f"worker {runner.controller.name}-{i}", runner.work)

    def _spawn(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=target, args=(self._stop,), name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful: in-flight reconciles finish, then every thread ends."""
        self._stop.set()
        for runner in self.runners:
            runner.queue.shutdown()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()

    def run(self, stop: threading.Event) -> None:
        self.start()
        try:
            stop.wait()
        finally:
            self.stop()

    def synced(self) -> bool:
        return all(i.synced.is_set() for r in self.runners for i in r.informers)

    def idle(self) -> bool:
        """Synced, nothing ready or in flight, no key failing. Timed requeues (expected waits) don't count."""
        return self.synced() and not any(r.queue.busy() or r.stats.failing for r in self.runners)

    def failing(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for r in self.runners:
            with r.stats.lock:
                out.update((f"{r.controller.name} {k}", msg) for k, msg in r.stats.failing.items())
        return out

    def run_until_idle(self, timeout: float = 60.0, quiet: float = 0.4) -> bool:
        """Reconcile until idle for `quiet` seconds in a row (our own writes settle); False on timeout."""
        self.start()
        try:
            deadline = time.monotonic() + timeout
            idle_since: float | None = None
            while time.monotonic() < deadline:
                if self.idle():
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since >= quiet:
                        return True
                else:
                    idle_since = None
                time.sleep(0.02)
            return False
        finally:
            self.stop()
