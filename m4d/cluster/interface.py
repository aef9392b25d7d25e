"""The `Cluster` interface: what controllers need from a Kubernetes-like API, and nothing more.

Two implementations share it: `LocalCluster` (an embedded SQLite store, the one-machine default) and
`KubeCluster` (a real API server). Both pass the same contract suite (tests/contract/).

Semantics follow the Kubernetes API: resourceVersions are opaque, monotonically increasing strings;
`generation` moves on spec changes only; status is a subresource (`update` ignores it and
`update_status` ignores everything else); deleting an object with finalizers only marks it
(deletionTimestamp) until the last finalizer is removed.

Writes take `dry_run` (as `kubectl apply --dry-run=server`, `dryRun=All` on the wire): every check of a
real write runs, including those against the stored objects, and nothing is stored. A multi-document
apply dry-runs every document first, so one the store refuses leaves nothing of the input stored.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from m4d.api.meta import Resource

R = TypeVar("R", bound=Resource)

EventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]


@dataclass(frozen=True)
class WatchEvent(Generic[R]):
    """One change. BOOKMARK events carry no object, only a resourceVersion to resume from."""

    type: EventType
    object: R | None
    resource_version: str


class WatchStream(Iterator[WatchEvent[R]], ABC):
    """A watch: iterate for its events; `close()`, from any thread, ends it promptly.

    One stream is one long-lived watch. It resumes by itself across the server's request timeouts (from
    the last resourceVersion it delivered), and ends when closed, when its `timeout` runs out (after a
    BOOKMARK with the resourceVersion to resume from), or with an error (GoneError: list again).
    """

    def __init__(self) -> None:
        self._closed = threading.Event()
        self._events: Iterator[WatchEvent[R]] | None = None

    @abstractmethod
    def _run(self) -> Iterator[WatchEvent[R]]:
        """The events, in the consumer's thread; returns soon after `closed` becomes true."""

    def _wake(self) -> None:
        """Interrupt a wait or read in progress (called by `close`)."""

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._wake()

    def __next__(self) -> WatchEvent[R]:
        if self._events is None:
            self._events = self._run()
        return next(self._events)

    def __enter__(self) -> WatchStream[R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class ResourceList(Generic[R]):
    items: list[R] = field(default_factory=list)
    resource_version: str = ""


class Cluster(ABC):
    """A store of typed resources with Kubernetes semantics. Errors are those of `m4d.errors`.

    `requests` counts the calls made to the store by verb (get, list, watch, create, update, ...): what
    the runtime's cache saves is measured with it.
    """

    name: str
    requests: Counter[str]

    @abstractmethod
    def get(self, kind: type[R], name: str, namespace: str | None = None) -> R:
        """Raise NotFoundError if absent."""

    @abstractmethod
    def list(self, kind: type[R], namespace: str | None = None, label_selector: str | None = None) -> ResourceList[R]:
        """All objects of a kind (in one namespace, or all of them when None), sorted by namespace, name."""

    @abstractmethod
    def watch(
        self,
        kind: type[R],
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: str | None = None,
        timeout: float | None = None,
    ) -> WatchStream[R]:
        """Changes after `resource_version`; without one, ADDED for every current object first.

        Runs until closed, or for `timeout` seconds (then a BOOKMARK carries the resourceVersion to resume
        from). Raises GoneError when the history asked for is no longer kept: list again. Objects that
        leave a label selection arrive as DELETED, ones that enter it as ADDED.
        """

    @abstractmethod
    def create(self, obj: R, *, dry_run: bool = False) -> R:
        """Raise AlreadyExistsError if the name is taken, InvalidError if the object is not valid (or over
        the 1.5 MiB an API server stores)."""

    @abstractmethod
    def update(self, obj: R, *, dry_run: bool = False) -> R:
        """Replace metadata and spec. If obj carries a resourceVersion it must be current (else ConflictError)."""

    @abstractmethod
    def update_status(self, obj: R) -> R:
        """Replace the status only; same resourceVersion precondition as `update`."""

    @abstractmethod
    def apply(self, obj: R, field_manager: str, force: bool = True, *, dry_run: bool = False) -> R:
        """Create, or make the stored spec, labels and annotations what `obj` says (server-side-apply-like).

        Status is untouched; applying an identical object changes nothing (same resourceVersion).
        """

    @abstractmethod
    def delete(self, kind: type[R], name: str, namespace: str | None = None) -> R | None:
        """Delete, or mark for deletion when finalizers remain (returning the marked object).

        Returns None once the object is gone; raises NotFoundError if it was not there.
        """

    def close(self) -> None:
        """Release connections; the default has none."""

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
