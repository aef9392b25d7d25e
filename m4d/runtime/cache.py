"""The runtime's in-memory copy of one kind on one cluster, with indexes kept as objects change.

An informer fills it from one list and one long-lived watch; reconciles and watch mappers read it
instead of the API. Every read hands out the stored object itself: readers must not modify it (copy
first, as `model_copy` does). Writes still go to the API; a writer may `assume` what the API answered
(or `forget` what it deleted) so its next read does not see an older version than it wrote. What is
assumed only overlays reads until the watch delivers that version: the changes handed to handlers are
always the watch's, so one controller's write still wakes the others.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Generic

from m4d.cluster.interface import R, WatchEvent

Key = tuple[str | None, str]  # (namespace, name); namespace None for cluster-scoped kinds
Indexer = Callable[[R], Iterable[str]]
# (event type, object before, object after): ADDED has no before, DELETED no after.
Change = tuple[str, R | None, R | None]


def key_of(obj: R) -> Key:
    return (obj.metadata.namespace, obj.metadata.name)


def _version(obj: R | None) -> int | None:
    try:
        return int(obj.metadata.resource_version or "") if obj is not None else None
    except ValueError:
        return None  # opaque to us: never compared


def newer(candidate: R, than: R | None) -> bool:
    """Whether `candidate` is at least as recent as `than` (resourceVersions that are not numbers
    cannot be compared, and the caller's order wins)."""
    mine, theirs = _version(candidate), _version(than)
    return mine is None or theirs is None or mine >= theirs


class Cache(Generic[R]):
    def __init__(self, indexers: Mapping[str, Indexer[R]] | None = None) -> None:
        self._indexers: dict[str, Indexer[R]] = dict(indexers or {})
        self._objects: dict[Key, R] = {}
        self._indexes: dict[str, dict[str, set[Key]]] = {name: {} for name in self._indexers}
        self._index_keys: dict[Key, dict[str, tuple[str, ...]]] = {}
        self._assumed: dict[Key, R | None] = {}  # a writer's answer the watch has not brought yet (None: gone)
        self._lock = threading.RLock()

    # -- reads ------------------------------------------------------------------------------------

    def _read(self, keys: Iterable[Key]) -> builtins.list[R]:
        out = []
        for key in keys:
            obj = self._assumed[key] if key in self._assumed else self._objects[key]
            if obj is not None:
                out.append(obj)
        return out

    def get(self, name: str, namespace: str | None = None) -> R | None:
        with self._lock:
            found = self._read([(namespace, name)]) if (namespace, name) in self._objects else []
            return found[0] if found else None

    def list(self, namespace: str | None = None) -> builtins.list[R]:
        """Sorted by namespace and name, as the API lists."""
        with self._lock:
            return self._read(sorted(k for k in self._objects if namespace is None or k[0] == namespace))

    def by_index(self, index: str, value: str) -> builtins.list[R]:
        with self._lock:
            return self._read(sorted(self._indexes[index].get(value, ())))

    def indexes(self) -> builtins.list[str]:
        return sorted(self._indexers)

    def __len__(self) -> int:
        with self._lock:
            return len(self._objects)

    # -- changes ----------------------------------------------------------------------------------

    def add_indexer(self, name: str, indexer: Indexer[R]) -> None:
        with self._lock:
            if name in self._indexers:
                return
            self._indexers[name] = indexer
            self._indexes[name] = {}
            for key, obj in self._objects.items():
                self._index_one(key, name, obj)

    def _index_one(self, key: Key, name: str, obj: R) -> None:
        values = tuple(dict.fromkeys(self._indexers[name](obj)))
        self._index_keys.setdefault(key, {})[name] = values
        for value in values:
            self._indexes[name].setdefault(value, set()).add(key)

    def _unindex(self, key: Key) -> None:
        for name, values in self._index_keys.pop(key, {}).items():
            index = self._indexes[name]
            for value in values:
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]

    def _put(self, obj: R) -> R | None:
        key = key_of(obj)
        old = self._objects.get(key)
        self._unindex(key)
        self._objects[key] = obj
        for name in self._indexers:
            self._index_one(key, name, obj)
        return old

    def _drop(self, key: Key) -> R | None:
        self._unindex(key)
        self._assumed.pop(key, None)
        return self._objects.pop(key, None)

    def _caught_up(self, key: Key, obj: R) -> None:
        """The watch brought `obj`: an assumed version no later than it has served its purpose."""
        assumed = self._assumed.get(key)
        if key in self._assumed and (assumed is None or newer(obj, assumed)):
            del self._assumed[key]

    def apply(self, event: WatchEvent[R]) -> Change[R] | None:
        """Take in one watch event; the change it made (None: nothing changed)."""
        obj = event.object
        if obj is None:
            return None
        key = key_of(obj)
        with self._lock:
            if event.type == "DELETED":
                return ("DELETED", self._drop(key), None) if key in self._objects else None
            old = self._put(obj)
            if key in self._assumed and self._assumed[key] is not None:
                self._caught_up(key, obj)
            return ("ADDED" if old is None else "MODIFIED", old, obj)

    def replace(self, items: Iterable[R]) -> builtins.list[Change[R]]:
        """Become exactly `items` (a fresh list); the changes that makes, so nothing missed goes unseen."""
        changes: builtins.list[Change[R]] = []
        with self._lock:
            listed = {key_of(o): o for o in items}
            for key in sorted(set(self._objects) - set(listed)):
                changes.append(("DELETED", self._drop(key), None))
            for key, obj in sorted(listed.items()):
                current = self._objects.get(key)
                if current is not None and current.metadata.resource_version == obj.metadata.resource_version:
                    continue
                old = self._put(obj)
                self._caught_up(key, obj)
                changes.append(("ADDED" if old is None else "MODIFIED", old, obj))
        return changes

    def assume(self, obj: R) -> None:
        """What a write of a cached object answered, read until the watch brings it (or later).

        An object the cache does not hold (created, or already seen deleted) is left to the watch."""
        key = key_of(obj)
        with self._lock:
            current = self._assumed.get(key) or self._objects.get(key)
            if key in self._objects and current is not None and newer(obj, current):
                self._assumed[key] = obj

    def forget(self, obj: R) -> None:
        """A write answered that the object is gone: reads say so until the watch does."""
        with self._lock:
            if key_of(obj) in self._objects:
                self._assumed[key_of(obj)] = None
