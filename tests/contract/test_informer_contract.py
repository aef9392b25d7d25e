"""The runtime's informers and cache on every `Cluster` implementation: one list, one long-lived watch,
resumed from its resourceVersion, a relist on 410 Gone, and a cache that reads as the store does."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from m4d.api import M4DApplication, Plotter
from m4d.api.meta import GROUP_VERSION, OwnerReference
from m4d.cluster.interface import Cluster
from m4d.cluster.local import LocalCluster
from m4d.runtime.indexers import APPLICATION, CLUSTER, OWNER
from m4d.runtime.informer import Informer, Informers
from m4d.runtime.reader import ApiReader, CacheReader
from tests.factories import application
from tests.unit.generator.plans import plotter


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.02)


@contextmanager
def running(informer: Informer[M4DApplication]) -> Iterator[list[tuple[str, str]]]:
    """The informer in its own thread; yields the (event, name) its handler heard of."""
    heard: list[tuple[str, str]] = []

    def note(event: str, old: M4DApplication | None, new: M4DApplication | None) -> None:
        obj = new if new is not None else old
        assert obj is not None
        heard.append((event, obj.name))

    informer.add_handler(note)
    thread = threading.Thread(target=informer.run)
    thread.start()
    try:
        assert informer.synced.wait(20)
        yield heard
    finally:
        informer.stop()
        thread.join(10)
        assert not thread.is_alive()


def cached(informer: Informer[M4DApplication]) -> dict[str, str | None]:
    return {o.name: o.metadata.resource_version for o in informer.cache.list()}


def stored(cluster: Cluster, ns: str) -> dict[str, str | None]:
    return {o.name: o.metadata.resource_version for o in cluster.list(M4DApplication, ns).items}


def expire_history(cluster: Cluster) -> None:
    """Make old resourceVersions too old to watch from, as a compaction does. A kube-apiserver keeps a
    bounded window of history, and resourceVersion 1 is always before it."""
    if isinstance(cluster, LocalCluster):
        cluster.compact(keep=0)


def test_the_cache_follows_the_store_through_one_list_and_one_watch(cluster: Cluster, ns: str) -> None:
    cluster.create(application("a", ns))
    b = cluster.create(application("b", ns))
    informer = Informer(cluster, M4DApplication, ns)
    watches = cluster.requests["watch"]
    with running(informer) as heard:
        assert cached(informer) == stored(cluster, ns)
        b.spec.app_info.intent = "Marketing"
        cluster.update(b)
        cluster.delete(M4DApplication, "a", ns)
        cluster.create(application("c", ns))
        wait_for(lambda: cached(informer) == stored(cluster, ns))
        requests = sum(cluster.requests.values())
        time.sleep(2.0)  # idle: nothing is polled meanwhile
        assert sum(cluster.requests.values()) == requests
        assert cluster.requests["watch"] - watches == 1
    assert heard == [("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "b"), ("DELETED", "a"), ("ADDED", "c")]
    assert informer.stats.lists == 1 and informer.stats.watches == 1


def test_an_informer_resumes_from_its_resource_version(cluster: Cluster, ns: str) -> None:
    cluster.create(application("a", ns))
    first = Informer(cluster, M4DApplication, ns)
    with running(first):
        pass
    cluster.create(application("b", ns))
    # A new watch from where the first stopped, with what it knew: only what happened since is heard.
    second = Informer(cluster, M4DApplication, ns)
    second.cache, second.resource_version = first.cache, first.resource_version
    second.synced.set()
    with running(second) as heard:
        wait_for(lambda: cached(second) == stored(cluster, ns))
    assert heard[1:] == [("ADDED", "b")]  # heard[0]: the known "a", replayed to a new handler
    assert second.stats.lists == 0


def test_a_410_gone_lists_again_and_reports_what_changed_meanwhile(cluster: Cluster, ns: str) -> None:
    cluster.create(application("a", ns))
    b = cluster.create(application("b", ns))
    first = Informer(cluster, M4DApplication, ns)
    with running(first):
        pass
    cluster.delete(M4DApplication, "a", ns)
    b.spec.app_info.intent = "Marketing"
    cluster.update(b)
    cluster.create(application("c", ns))
    expire_history(cluster)
    second = Informer(cluster, M4DApplication, ns)
    second.cache, second.resource_version = first.cache, "1"
    heard_before = len(second.cache)
    with running(second) as heard:
        wait_for(lambda: second.stats.lists == 1 and cached(second) == stored(cluster, ns))
        cluster.create(application("d", ns))  # and it watches on from the new list
        wait_for(lambda: "d" in cached(second))
    assert heard_before == 2
    assert sorted(heard) == sorted([("DELETED", "a"), ("MODIFIED", "b"), ("ADDED", "c"), ("ADDED", "d")])


def test_reading_the_cache_answers_as_reading_the_store(cluster: Cluster, ns: str) -> None:
    app = cluster.create(application("a", ns))
    cluster.create(application("b", ns))
    owned = plotter("a", ns, clusters=("m1", "m2"), uid=app.metadata.uid or "")
    owned.metadata.owner_references = [
        OwnerReference(api_version=GROUP_VERSION, kind="M4DApplication", name="a", uid=app.metadata.uid or "")
    ]
    owned.metadata.uid = None
    owned.metadata.generation = None
    cluster.create(owned)
    other = plotter("b", ns, clusters=("m2",))
    other.metadata.uid = None
    other.metadata.generation = None
    cluster.create(other)
    informers = Informers()
    cache = CacheReader(informers, cluster)
    api = ApiReader(cluster)
    for kind in (M4DApplication, Plotter):
        informers.get(cluster, kind, ns)
    informers.start()
    try:
        wait_for(informers.synced)
        wait_for(lambda: len(cache.list(Plotter, ns)) == 2)
        assert cache.get(M4DApplication, "a", ns) == api.get(M4DApplication, "a", ns)
        assert cache.list(M4DApplication, ns) == api.list(M4DApplication, ns)
        by_app = cache.by_index(Plotter, APPLICATION, f"{ns}/a")
        assert [p.name for p in by_app] == ["a"]
        assert [p.name for p in cache.by_index(Plotter, CLUSTER, "m2")] == ["a", "b"]
        assert [p.name for p in cache.by_index(Plotter, OWNER, app.metadata.uid or "")] == ["a"]
    finally:
        informers.stop()
