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


@dataclass
class ResourceList(Generic[R]):
    items: list[R] = field(default_factory=list)
    resource_version: str = ""


class Cluster(ABC):
    """A store of typed resources with Kubernetes semantics. Errors are those of `m4d.errors`."""

    name: str

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
        stop: threading.Event | None = None,
    ) -> Iterator[WatchEvent[R]]:
        """Changes after `resource_version`; without one, ADDED for every current object first.

        Ends after `timeout` seconds (with a BOOKMARK carrying the resourceVersion to resume from) or
        when `stop` is set. Raises GoneError when the history asked for is no longer kept: list again.
        Objects that leave a label selection arrive as DELETED, ones that enter it as ADDED.
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
