"""Informers: one list and one long-lived watch per (cluster, kind), kept in a shared cache.

An `Informer` lists its kind once, then follows a single watch from the list's resourceVersion for as
long as it runs; a watch that ends or fails is resumed from the last resourceVersion seen, and only a
410 Gone (history compacted) lists again, telling handlers what changed meanwhile. Stopping closes the
watch: nothing is polled. Each change is put in the cache first, then handed to the handlers (the
controllers' mappers, which turn it into keys on their work queues).

`Informers` holds one informer per (cluster, kind, namespace, selector) for a whole process, so every
controller that watches or reads a kind shares one watch and one copy of it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic

from m4d.api.meta import Resource
from m4d.cluster.interface import Cluster, R, WatchStream
from m4d.errors import GoneError, M4DError, StoreCorruptError
from m4d.runtime.cache import Cache, Change
from m4d.runtime.indexers import indexers_for

log = logging.getLogger("m4d.runtime")

Handler = Callable[[str, Any, Any], None]  # (event type, old object or None, new object or None)

RETRY_BASE = 0.5
RETRY_MAX = 30.0


@dataclass
class InformerStats:
    lists: int = 0  # 1, plus one per 410 Gone
    watches: int = 0  # watch streams opened: 1, plus one per failure resumed from
    events: int = 0


Fatal = Callable[[StoreCorruptError], None]


def _log_fatal(exc: StoreCorruptError) -> None:
    log.error("%s", exc)


class Informer(Generic[R]):
    def __init__(
        self,
        cluster: Cluster,
        kind: type[R],
        namespace: str | None = None,
        label_selector: str | None = None,
        on_fatal: Fatal = _log_fatal,
    ) -> None:
        self.cluster = cluster
        self.on_fatal = on_fatal
        self.kind = kind
        self.namespace = namespace
        self.label_selector = label_selector
        self.cache: Cache[R] = Cache(indexers_for(kind))
        self.synced = threading.Event()
        self.stats = InformerStats()
        self.resource_version: str | None = None
        where = f"/{namespace}" if namespace else ""
        selected = f" [{label_selector}]" if label_selector else ""
        self.name = f"{cluster.name}/{kind.KIND}{where}{selected}"
        self._handlers: list[Handler] = []
        self._lock = threading.Lock()
        self._stream: WatchStream[R] | None = None
        self._stopping = threading.Event()

    def add_handler(self, handler: Handler) -> None:
        """`handler` hears of every change from now on; what the cache already holds arrives as ADDED."""
        with self._lock:
            self._handlers.append(handler)
            known = self.cache.list() if self.synced.is_set() else []
        for obj in known:
            handler("ADDED", None, obj)

    def _dispatch(self, changes: Sequence[Change[R]]) -> None:
        with self._lock:
            handlers = list(self._handlers)
        for event, old, new in changes:
            for handler in handlers:
                try:
                    handler(event, old, new)
                except Exception:  # one broken mapper must not stop the watch that feeds everyone
                    obj = new if new is not None else old
                    log.exception("%s: a handler failed on %s", self.name, obj.key if obj is not None else "?")

    def _relist(self) -> str:
        listed = self.cluster.list(self.kind, self.namespace, self.label_selector)
        self.stats.lists += 1
        changes = self.cache.replace(listed.items)
        self.synced.set()
        self._dispatch(changes)
        return listed.resource_version

    def run(self) -> None:
        """List, then watch until `stop()`."""
        failures = 0
        while not self._stopping.is_set():
            try:
                if self.resource_version is None:
                    self.resource_version = self._relist()
                self._follow()
                failures = 0
            except GoneError:
                log.info("%s: watch history expired, listing again", self.name)
                self.resource_version = None
            except StoreCorruptError as exc:  # no retry mends it: whoever runs the informers stops
                self.on_fatal(exc)
                return
            except Exception as exc:  # a store that is down, or a bug: retry, never die
                failures += 1
                delay = min(RETRY_BASE * 2**failures, RETRY_MAX)
                if isinstance(exc, M4DError):
                    log.warning("%s: watch failed (%s); resuming in %.1fs", self.name, exc, delay)
                else:
                    log.exception("%s: unexpected watch failure; resuming in %.1fs", self.name, delay)
                self._stopping.wait(delay)

    def _follow(self) -> None:
        stream = self.cluster.watch(self.kind, self.namespace, self.resource_version, self.label_selector)
        self.stats.watches += 1
        with self._lock:
            self._stream = stream
        if self._stopping.is_set():
            stream.close()
        try:
            for event in stream:
                self.resource_version = event.resource_version
                if event.object is None:
                    continue
                self.stats.events += 1
                change = self.cache.apply(event)
                if change is not None:
                    self._dispatch([change])
        finally:
            with self._lock:
                self._stream = None
            stream.close()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.close()


class Informers:
    """The informers of one process, shared by its controllers; started and stopped together."""

    def __init__(self) -> None:
        self._informers: dict[tuple[int, type[Resource], str | None, str | None], Informer[Any]] = {}
        self._threads: list[threading.Thread] = []
        self._started = False
        self._lock = threading.Lock()
        # Told when a store turns out damaged (the Manager stops the process); else it is logged once.
        self.on_fatal: Fatal | None = None

    def fatal(self, exc: StoreCorruptError) -> None:
        (self.on_fatal or _log_fatal)(exc)

    def get(
        self, cluster: Cluster, kind: type[R], namespace: str | None = None, label_selector: str | None = None
    ) -> Informer[R]:
        """The informer of `kind` on `cluster` (made, and started if the others run, on first use)."""
        key = (id(cluster), kind, namespace, label_selector)
        with self._lock:
            informer = self._informers.get(key)
            if informer is None:
                informer = self._informers[key] = Informer(cluster, kind, namespace, label_selector, self.fatal)
                if self._started:
                    self._spawn(informer)
            return informer

    def find(self, cluster: Cluster, kind: type[R], namespace: str | None = None) -> Informer[R] | None:
        """An informer holding every object of `kind` (in `namespace`) on `cluster`, if one exists."""
        with self._lock:
            for ns in dict.fromkeys((None, namespace)):
                informer = self._informers.get((id(cluster), kind, ns, None))
                if informer is not None:
                    return informer
        return None

    def all(self) -> list[Informer[Any]]:
        with self._lock:
            return list(self._informers.values())

    def _spawn(self, informer: Informer[Any]) -> None:
        thread = threading.Thread(target=informer.run, name=f"watch {informer.name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
            for informer in self._informers.values():
                self._spawn(informer)

    def synced(self) -> bool:
        return all(i.synced.is_set() for i in self.all())

    def stop(self, timeout: float = 10.0) -> None:
        for informer in self.all():
            informer.stop()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
