"""List + watch one kind on one cluster and turn every change into keys on a work queue."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from m4d.api.meta import Resource
from m4d.cluster.interface import Cluster
from m4d.errors import GoneError, M4DError
from m4d.runtime.controller import ObjectKey
from m4d.runtime.queue import WorkQueue

log = logging.getLogger("m4d.runtime")

# Watches are re-opened this often (seconds) so a stop request or a lost connection is noticed.
WATCH_TIMEOUT = 5.0


class Informer:
    def __init__(
        self,
        cluster: Cluster,
        kind: type[Resource],
        to_keys: Callable[[Resource], Sequence[ObjectKey]],
        queue: WorkQueue[ObjectKey],
        namespace: str | None = None,
        label_selector: str | None = None,
        owner: str = "",
    ) -> None:
        self.cluster = cluster
        self.kind = kind
        self.to_keys = to_keys
        self.queue = queue
        self.namespace = namespace
        self.label_selector = label_selector
        self.synced = threading.Event()
        self.name = f"{owner}:{cluster.name}/{kind.KIND}"
        # For the controller's own kind, changes to status alone are skipped: they are (mostly) the
        # controller's own writes, and reconciling on them would double the work for nothing.
        self.skip_status_only = False
        self._seen: dict[tuple[str | None, str], tuple[object, ...]] = {}

    @staticmethod
    def _fingerprint(obj: Resource) -> tuple[object, ...]:
        m = obj.metadata
        return (m.uid, m.generation, m.labels, m.annotations, m.finalizers, m.deletion_timestamp, m.owner_references)

    def _enqueue(self, obj: Resource, event: str = "ADDED") -> None:
        if self.skip_status_only:
            ident = (obj.metadata.namespace, obj.metadata.name)
            fingerprint = self._fingerprint(obj)
            if event == "DELETED":
                self._seen.pop(ident, None)
            elif event == "MODIFIED" and self._seen.get(ident) == fingerprint:
                return
            else:
                self._seen[ident] = fingerprint
        for key in self.to_keys(obj):
            self.queue.add(key)

    def run(self, stop: threading.Event) -> None:
        resource_version: str | None = None
        failures = 0
        while not stop.is_set():
            try:
                if resource_version is None:
                    listed = self.cluster.list(self.kind, self.namespace, self.label_selector)
                    for item in listed.items:
                        self._enqueue(item)
                    resource_version = listed.resource_version
                    self.synced.set()
                for event in self.cluster.watch(
                    self.kind,
                    self.namespace,
                    resource_version,
                    self.label_selector,
                    timeout=WATCH_TIMEOUT,
                    stop=stop,
                ):
                    resource_version = event.resource_version
                    if event.object is not None:
                        self._enqueue(event.object, event.type)
                failures = 0
            except GoneError:
                log.info("%s: watch history expired, listing again", self.name)
                resource_version = None
            except M4DError as exc:
                failures += 1
                delay = min(0.5 * 2**failures, 30.0)
                log.warning("%s: watch failed (%s); retrying in %.1fs", self.name, exc, delay)
                stop.wait(delay)
            except Exception:
                failures += 1
                delay = min(0.5 * 2**failures, 30.0)
                log.exception("%s: unexpected watch failure; retrying in %.1fs", self.name, delay)
                stop.wait(delay)
