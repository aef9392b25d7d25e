"""Runs controllers: shared informers feed work queues, workers reconcile, status is written once.

    watch (one per cluster and kind) → cache (indexed) → handlers map changes to keys → work queue
    → workers: reconcile(object from the cache) → writes to the API (their answers kept in the cache)

Several controllers share one process and its informers (and may sit on different clusters, e.g. the
member agent reads its member and writes the hub). Everything is level-triggered: a restart lists
again and converges.
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
from m4d.errors import ConflictError, NotFoundError, PermanentError, StoreCorruptError, TemporaryError
from m4d.runtime.controller import Controller, ObjectKey, Outcome, Watch
from m4d.runtime.informer import Handler, Informer, Informers
from m4d.runtime.queue import WorkQueue
from m4d.runtime.reader import CacheReader

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


def _fingerprint(obj: Resource) -> tuple[object, ...]:
    """What a controller's own objects change in besides status and finalizers."""
    m = obj.metadata
    return (m.uid, m.generation, m.labels, m.annotations, m.deletion_timestamp, m.owner_references)


def _same_for(finalizer: str | None, old: Resource, new: Resource) -> bool:
    """Nothing a controller acts on changed. Of the finalizers only the loss of its own counts: it adds
    its own just before reconciling, and other controllers' come and go without concerning it."""
    lost = bool(finalizer) and finalizer in old.metadata.finalizers and finalizer not in new.metadata.finalizers
    return not lost and _fingerprint(old) == _fingerprint(new)


class Runner:
    """One controller's handlers, queue and workers."""

    def __init__(self, controller: Controller[Any], informers: Informers) -> None:
        self.controller = controller
        self.on_fatal = informers.fatal
        self.queue: WorkQueue[ObjectKey] = WorkQueue()
        self.stats = Stats()
        self._failures: dict[ObjectKey, int] = {}
        c = controller
        c.attach(self.queue.add, CacheReader(informers, c.cluster))
        self.own: Informer[Any] = informers.get(c.cluster, c.kind, c.namespace)
        self.informers = [self.own]
        self.own.add_handler(self._own_changed)
        for w in c.watches():
            informer: Informer[Any] = informers.get(w.cluster or c.cluster, w.kind, w.namespace, w.label_selector)
            informer.add_handler(self._watched_changed(w))
            self.informers.append(informer)
        for kind in c.reads():
            self.informers.append(informers.get(c.cluster, kind))

    def _own_changed(self, event: str, old: Resource | None, new: Resource | None) -> None:
        # Changes to status alone are (mostly) the controller's own writes, and other controllers' finalizers
        # are theirs; reconciling on them would double the work for nothing, unless someone else's status
        # writes are what it must see.
        c = self.controller
        if (
            event == "MODIFIED"
            and old is not None
            and new is not None
            and _same_for(c.finalizer, old, new)
            and not (c.reconcile_on_status and c.wakes_on_status(old, new))
        ):
            return
        obj = new or old
        if obj is not None:
            self.queue.add(ObjectKey.of(obj))

    def _watched_changed(self, watch: Watch) -> Handler:
        def handle(event: str, old: Resource | None, new: Resource | None) -> None:
            if event == "MODIFIED" and watch.changed is not None and not watch.changed(old, new):
                return
            obj = new or old
            if obj is not None:
                for key in watch.to_keys(obj):
                    self.queue.add(key)

        return handle

    # -- one key ------------------------------------------------------------------------------

    def process(self, key: ObjectKey) -> None:
        c = self.controller
        try:
            requeue = self._reconcile_key(key)
        except StoreCorruptError as exc:
            self.on_fatal(exc)  # no retry mends a damaged store: the process stops and says how to repair it
            return
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
            obj = c.read.get(c.kind, key.name, key.namespace)
        except NotFoundError:
            return None
        self.stats.count("reconciles")
        if obj.metadata.deletion_timestamp is not None:
            return self._finalize(obj)
        if c.finalizer and c.finalizer not in obj.metadata.finalizers:
            meta = obj.metadata.model_copy(update={"finalizers": [*obj.metadata.finalizers, c.finalizer]})
            obj = c.cluster.update(obj.model_copy(update={"metadata": meta}))
            self.own.cache.assume(obj)
        try:
            outcome = c.reconcile(obj)
        except StoreCorruptError:
            raise
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
        meta = obj.metadata.model_copy(update={"finalizers": remaining})
        written = c.cluster.update(obj.model_copy(update={"metadata": meta}))
        if remaining:
            self.own.cache.assume(written)
        else:
            self.own.cache.forget(written)
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
        status = self.controller.own_status(current, status)
        new_wire = status.model_dump(mode="json", by_alias=True, exclude_none=True)
        if current is not None and current.model_dump(mode="json", by_alias=True, exclude_none=True) == new_wire:
            return
        written = self.controller.cluster.update_status(obj.model_copy(update={"status": status}))
        self.own.cache.assume(written)
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

    def __init__(self, controllers: list[Controller[Any]], informers: Informers | None = None) -> None:
        for c in controllers:
            kind_info(c.kind)  # fail early on an unregistered kind
        self.informers = informers or Informers()
        self.informers.on_fatal = self.fail
        self.runners = [Runner(c, self.informers) for c in controllers]
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._outer: threading.Event | None = None
        self.fatal: StoreCorruptError | None = None

    def fail(self, exc: StoreCorruptError) -> None:
        """A store is damaged: stop everything; `run` then raises it (once) for the process to report."""
        if self.fatal is None:
            self.fatal = exc
        self._stop.set()
        if self._outer is not None:
            self._outer.set()

    def start(self) -> None:
        self.informers.start()
        for runner in self.runners:
            for i in range(runner.controller.workers):
                self._spawn(f"worker {runner.controller.name}-{i}", runner.work)
            for j, loop in enumerate(runner.controller.background()):
                self._spawn(f"background {runner.controller.name}-{j}", loop)

    def _spawn(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=target, args=(self._stop,), name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful: in-flight reconciles finish, then every thread ends and every watch is closed."""
        self._stop.set()
        for runner in self.runners:
            runner.queue.shutdown()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()
        self.informers.stop(max(0.0, deadline - time.monotonic()))

    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set; raises StoreCorruptError if a store turned out damaged (and sets `stop`)."""
        self._outer = stop
        if self.fatal is not None:
            stop.set()
        self.start()
        try:
            stop.wait()
        finally:
            self.stop()
        if self.fatal is not None:
            raise self.fatal

    def synced(self) -> bool:
        return self.informers.synced()

    def idle(self) -> bool:
        """Synced, nothing ready or in flight, no key failing. Timed requeues (expected waits) don't count."""
        return self.synced() and not any(r.queue.busy() or r.stats.failing or r.controller.busy() for r in self.runners)

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
            while time.monotonic() < deadline and self.fatal is None:
                if self.idle():
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since >= quiet:
                        return True
                else:
                    idle_since = None
                time.sleep(0.02)
        finally:
            self.stop()
        if self.fatal is not None:
            raise self.fatal
        return False
