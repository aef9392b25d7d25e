"""The runtime's cache over every `Cluster` implementation: an informer lists once and follows one watch,
resumes from the resourceVersion it last saw without listing again, and when the store no longer keeps
that history (410 Gone) lists again and tells its handlers only what differs from what it held."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from m4d.api import M4DApplication
from m4d.cluster.interface import Cluster
from m4d.cluster.local import LocalCluster
from m4d.runtime.informer import Informer
from tests.factories import application

Seen = list[tuple[str, str]]


def wait_until(check: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.02)


@contextmanager
def running(informer: Informer[M4DApplication]) -> Iterator[Seen]:
    seen: Seen = []

    def handler(event: str, old: M4DApplication | None, new: M4DApplication | None) -> None:
        obj = new if new is not None else old
        assert obj is not None
        seen.append((event, obj.name))

    informer.add_handler(handler)
    thread = threading.Thread(target=informer.run, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        informer.stop()
        thread.join(15)
        assert not thread.is_alive(), "stopping closes the watch at once"


def names(informer: Informer[M4DApplication]) -> list[str]:
    return [a.name for a in informer.cache.list()]


def intent(informer: Informer[M4DApplication], name: str) -> str | None:
    app = informer.cache.get(name, informer.namespace)
    return app.spec.app_info.intent if app is not None else None


def test_an_informer_lists_once_then_follows_one_watch(cluster: Cluster, ns: str) -> None:
    cluster.create(application("a", ns))
    informer = Informer(cluster, M4DApplication, ns)
    with running(informer) as seen:
        wait_until(informer.synced.is_set)
        assert names(informer) == ["a"]
        b = cluster.create(application("b", ns))
        b.spec.app_info.intent = "Marketing"
        cluster.update(b)
        cluster.delete(M4DApplication, "a", ns)
        wait_until(lambda: names(informer) == ["b"] and intent(informer, "b") == "Marketing")
    assert seen == [("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "b"), ("DELETED", "a")]
    assert (informer.stats.lists, informer.stats.watches) == (1, 1)


def test_a_watch_resumes_from_the_last_version_seen_without_listing(cluster: Cluster, ns: str) -> None:
    for name in ("a", "b"):
        cluster.create(application(name, ns))
    first = Informer(cluster, M4DApplication, ns)
    with running(first):
        wait_until(first.synced.is_set)
    held, version = first.cache.list(), first.resource_version
    # Meanwhile (no watch open): one new, one changed, one gone.
    cluster.create(application("c", ns))
    a = cluster.get(M4DApplication, "a", ns)
    a.spec.app_info.intent = "Marketing"
    cluster.update(a)
    cluster.delete(M4DApplication, "b", ns)

    resumed = Informer(cluster, M4DApplication, ns)
    resumed.cache.replace(held)
    resumed.resource_version = version
    with running(resumed) as seen:
        wait_until(lambda: names(resumed) == ["a", "c"] and intent(resumed, "a") == "Marketing")
    assert seen == [("ADDED", "c"), ("MODIFIED", "a"), ("DELETED", "b")]
    assert (resumed.stats.lists, resumed.stats.watches) == (0, 1)


def test_gone_history_lists_again_and_reports_only_what_differs(cluster: Cluster, ns: str) -> None:
    for name in ("a", "b", "c"):
        cluster.create(application(name, ns))
    first = Informer(cluster, M4DApplication, ns)
    with running(first):
        wait_until(first.synced.is_set)
    held = first.cache.list()
    cluster.create(application("d", ns))
    a = cluster.get(M4DApplication, "a", ns)
    a.spec.app_info.intent = "Marketing"
    cluster.update(a)
    cluster.delete(M4DApplication, "b", ns)
    if isinstance(cluster, LocalCluster):
        cluster.compact(keep=0)  # as etcd compacts; a real API server's watch cache forgets as well

    stale = Informer(cluster, M4DApplication, ns)
    stale.cache.replace(held)
    stale.resource_version = "1"  # long before anything either store still keeps
    with running(stale) as seen:
        wait_until(lambda: stale.stats.lists == 1 and names(stale) == ["a", "c", "d"])
    assert sorted(seen) == [("ADDED", "d"), ("DELETED", "b"), ("MODIFIED", "a")]  # c is as it was
    assert intent(stale, "a") == "Marketing"
