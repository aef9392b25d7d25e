"""What reconciles and watch mappers read: the shared cache when the runtime runs them, else the API.

    read.get(kind, name, namespace)         NotFoundError if absent
    read.list(kind, namespace=None)         sorted by namespace, name
    read.by_index(kind, index, value)       see m4d.runtime.indexers

Objects read from the cache are shared: copy before changing one (`model_copy`). Writes go to the API
(`Controller.cluster`). A controller called outside the runtime (a test, `m4d explain --live`) reads
through `ApiReader`, with the same answers and more requests.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod

from m4d.api.registry import kind_info
from m4d.cluster.interface import Cluster, R
from m4d.errors import NotFoundError, TemporaryError
from m4d.runtime.indexers import indexers_for
from m4d.runtime.informer import Informer, Informers

# How long a read waits for its kind's first list before it is a temporary error.
SYNC_WAIT = 30.0


class Reader(ABC):
    cluster: Cluster

    @abstractmethod
    def get(self, kind: type[R], name: str, namespace: str | None = None) -> R: ...

    @abstractmethod
    def list(self, kind: type[R], namespace: str | None = None) -> builtins.list[R]: ...

    @abstractmethod
    def by_index(self, kind: type[R], index: str, value: str) -> builtins.list[R]: ...


class ApiReader(Reader):
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def get(self, kind: type[R], name: str, namespace: str | None = None) -> R:
        return self.cluster.get(kind, name, namespace)

    def list(self, kind: type[R], namespace: str | None = None) -> builtins.list[R]:
        return self.cluster.list(kind, namespace).items

    def by_index(self, kind: type[R], index: str, value: str) -> builtins.list[R]:
        indexer = indexers_for(kind)[index]
        return [o for o in self.list(kind) if value in indexer(o)]


class CacheReader(Reader):
    """Reads `cluster` through the process's informers; a kind no informer holds is cached on first read."""

    def __init__(self, informers: Informers, cluster: Cluster) -> None:
        self.informers = informers
        self.cluster = cluster

    def _informer(self, kind: type[R], namespace: str | None = None) -> Informer[R]:
        informer = self.informers.find(self.cluster, kind, namespace) or self.informers.get(self.cluster, kind)
        if not informer.synced.wait(SYNC_WAIT):
            raise TemporaryError(f"{kind.KIND} on cluster {self.cluster.name} is not listed yet (cache not synced)")
        return informer

    def get(self, kind: type[R], name: str, namespace: str | None = None) -> R:
        ns = (namespace or "default") if kind_info(kind).namespaced else None
        found = self._informer(kind, ns).cache.get(name, ns)
        if found is None:
            where = f" in namespace {ns}" if ns else ""
            raise NotFoundError(f"{kind.KIND} {name!r} not found{where} on cluster {self.cluster.name}")
        return found

    def list(self, kind: type[R], namespace: str | None = None) -> builtins.list[R]:
        ns = namespace if kind_info(kind).namespaced else None
        return self._informer(kind, ns).cache.list(ns)

    def by_index(self, kind: type[R], index: str, value: str) -> builtins.list[R]:
        return self._informer(kind).cache.by_index(index, value)


def reader_for(informers: Informers | None, cluster: Cluster) -> Reader:
    return ApiReader(cluster) if informers is None else CacheReader(informers, cluster)
