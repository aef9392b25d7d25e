"""What a controller is: a level-triggered reconcile of one kind, fed by watches.

A controller says which kind it owns, which other kinds wake it (and how to map a change of those to
the keys of its own objects), and how to reconcile one object. The runtime (`m4d.runtime.manager`) does
the rest: shared informers (one list + watch per kind, kept in a cache), a de-duplicating work queue,
retries, finalizers, and writing status once.

Reconciles and mappers read through `self.read` (the shared cache under the runtime; see
`m4d.runtime.reader`) and write through `self.cluster` (the API).

Reconcile is a function of what it observes: it returns the status the object should have and, if it
is waiting for something expected, when to look again. Errors follow kopf's two words:
- raise `TemporaryError` (or let a client's temporary error through): retried with exponential
  backoff (or after `delay` if the error names one);
- raise `PermanentError`: not retried until the object or something it watches changes; the runtime
  records it as the `Ready` condition (reason and message from the error) with observedGeneration.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic

from pydantic import BaseModel

from m4d.api.meta import Resource
from m4d.cluster.interface import Cluster, R
from m4d.runtime.reader import ApiReader, Reader


@dataclass(frozen=True, order=True)
class ObjectKey:
    namespace: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @classmethod
    def of(cls, obj: Resource) -> ObjectKey:
        return cls(obj.metadata.namespace, obj.metadata.name)


@dataclass
class Outcome:
    """What one reconcile decided.

    `status`: the complete status the object should have (None: leave it as it is). The runtime sets
    its observedGeneration and writes it only if it differs from the stored one.
    `requeue_after`: seconds until the controller wants to look again (expected waiting, never a sleep).
    """

    status: BaseModel | None = None
    requeue_after: float | None = None


@dataclass(frozen=True)
class Watch:
    """A kind whose changes wake this controller, and how a changed object maps to keys to reconcile.

    `to_keys` gets the object as it is now (as it was last, when deleted). `changed(old, new)`, when
    given, first says whether a modification matters at all (additions and deletions always do).
    """

    kind: type[Resource]
    to_keys: Callable[[Any], Sequence[ObjectKey]]
    cluster: Cluster | None = None  # None: the controller's own cluster
    namespace: str | None = None
    label_selector: str | None = None
    changed: Callable[[Any, Any], bool] | None = None


@dataclass
class Controller(ABC, Generic[R]):
    """Subclass and implement `reconcile` (and `finalize` if `finalizer` is set)."""

    cluster: Cluster
    kind: type[R] = field(init=False)
    name: str = field(init=False, default="controller")
    finalizer: str | None = field(init=False, default=None)
    namespace: str | None = field(init=False, default=None)
    # Keys reconciled at once. One key is never on two workers, and a key that changes while it is being
    # reconciled is reconciled again afterwards; a slow reconcile (a slow connector) holds one worker only.
    workers: int = field(init=False, default=1)
    # Status-only changes of the controller's own objects are usually its own writes; set this when
    # someone else's status writes must wake the controller.
    reconcile_on_status: bool = field(init=False, default=False)

    _enqueue: Callable[[ObjectKey], None] | None = field(init=False, default=None, repr=False)
    _reader: Reader | None = field(init=False, default=None, repr=False)

    def attach(self, enqueue: Callable[[ObjectKey], None], reader: Reader | None = None) -> None:
        """Called by the runtime: lets the controller wake itself on events it learns of outside the API
        (a module process became ready, a file changed), and read through the shared cache."""
        self._enqueue = enqueue
        self._reader = reader

    @property
    def read(self) -> Reader:
        if self._reader is None:
            self._reader = ApiReader(self.cluster)
        return self._reader

    def enqueue(self, key: ObjectKey) -> None:
        if self._enqueue is not None:
            self._enqueue(key)

    def watches(self) -> Sequence[Watch]:
        """Other kinds whose changes should re-reconcile some of this controller's objects."""
        return ()

    def background(self) -> Sequence[Callable[[threading.Event], None]]:
        """Loops the runtime runs beside the workers until their stop event is set: sources of events
        outside the API that wake the controller through `enqueue` (a catalog's content changed)."""
        return ()

    def own_status(self, stored: BaseModel | None, decided: BaseModel) -> BaseModel:
        """The status to write: `decided` where this controller owns the field, `stored` elsewhere.

        Controllers that share a kind's status (the Plotter controller and the aggregator) each own
        some fields; the runtime applies this to every status it writes, so no controller writes
        another's field, whatever it returned. The default owns the whole status."""
        return decided

    def wakes_on_status(self, old: R, new: R) -> bool:
        """With `reconcile_on_status`: whether this status change of an own object matters (default: any)."""
        return True

    def busy(self) -> bool:
        """Work in flight outside the work queue (a background loop's), for `Manager.idle`."""
        return False

    def reads(self) -> Sequence[type[Resource]]:
        """Kinds of its own cluster the controller reads but does not watch (cached all the same)."""
        return ()

    @abstractmethod
    def reconcile(self, obj: R) -> Outcome:
        """Bring the world in line with `obj`; return its status. Must be idempotent."""

    def finalize(self, obj: R) -> Outcome:
        """Clean up before `obj` goes away (only called when `finalizer` is set). Raise to retry."""
        return Outcome()
