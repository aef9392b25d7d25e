"""The cache alone: indexes kept through changes, and what a writer assumes never hides a change."""

from __future__ import annotations

from m4d.api import M4DApplication, Plotter
from m4d.cluster.interface import WatchEvent
from m4d.runtime.cache import Cache
from m4d.runtime.indexers import APPLICATION, CLUSTER, indexers_for
from tests.factories import application
from tests.unit.generator.plans import plotter


def versioned(obj: M4DApplication, rv: int, intent: str | None = None) -> M4DApplication:
    copy = obj.model_copy(deep=True)
    copy.metadata.resource_version = str(rv)
    if intent is not None:
        copy.spec.app_info.intent = intent
    return copy


def placed(name: str, clusters: tuple[str, ...], rv: int) -> Plotter:
    obj = plotter(name, clusters=clusters)
    obj.metadata.resource_version = str(rv)
    return obj


def test_indexes_follow_each_change() -> None:
    cache: Cache[Plotter] = Cache(indexers_for(Plotter))
    cache.apply(WatchEvent("ADDED", placed("a", ("m1",), 1), "1"))
    cache.apply(WatchEvent("ADDED", placed("b", ("m1", "m2"), 2), "2"))
    assert [p.name for p in cache.by_index(CLUSTER, "m1")] == ["a", "b"]
    cache.apply(WatchEvent("MODIFIED", placed("a", ("m2",), 3), "3"))  # a moved
    assert [p.name for p in cache.by_index(CLUSTER, "m1")] == ["b"]
    assert [p.name for p in cache.by_index(CLUSTER, "m2")] == ["a", "b"]
    assert [p.name for p in cache.by_index(APPLICATION, "default/a")] == ["a"]
    cache.apply(WatchEvent("DELETED", placed("b", ("m1", "m2"), 4), "4"))
    assert cache.by_index(CLUSTER, "m1") == []
    assert [p.name for p in cache.by_index(CLUSTER, "m2")] == ["a"]


def test_an_assumed_write_is_read_at_once_and_its_watch_event_is_still_a_change() -> None:
    cache: Cache[M4DApplication] = Cache(indexers_for(M4DApplication))
    first = versioned(application("a"), 1)
    cache.apply(WatchEvent("ADDED", first, "1"))
    written = versioned(first, 5, intent="Marketing")
    cache.assume(written)
    assert cache.get("a", "default") is written  # the writer's next read sees its own write
    change = cache.apply(WatchEvent("MODIFIED", versioned(first, 5, intent="Marketing"), "5"))
    assert change is not None and change[1] is first  # handlers see the change from the old version
    assert cache.get("a", "default") is change[2]


def test_an_older_event_does_not_hide_an_assumed_write() -> None:
    cache: Cache[M4DApplication] = Cache(indexers_for(M4DApplication))
    cache.apply(WatchEvent("ADDED", versioned(application("a"), 1), "1"))
    mine = versioned(application("a"), 7, intent="Marketing")
    cache.assume(mine)
    cache.apply(WatchEvent("MODIFIED", versioned(application("a"), 6, intent="Research"), "6"))
    assert cache.get("a", "default") is mine
    assert cache.list() == [mine]


def test_forgotten_objects_read_as_gone_until_the_watch_agrees() -> None:
    cache: Cache[M4DApplication] = Cache(indexers_for(M4DApplication))
    app = versioned(application("a"), 1)
    cache.apply(WatchEvent("ADDED", app, "1"))
    cache.forget(app)
    assert cache.get("a", "default") is None and cache.list() == []
    cache.apply(WatchEvent("MODIFIED", versioned(app, 2), "2"))  # an earlier change, still on its way
    assert cache.get("a", "default") is None
    change = cache.apply(WatchEvent("DELETED", versioned(app, 3), "3"))
    assert change is not None and change[0] == "DELETED"
    assert len(cache) == 0


def test_a_relist_reports_only_what_differs() -> None:
    cache: Cache[M4DApplication] = Cache(indexers_for(M4DApplication))
    a, b = versioned(application("a"), 1), versioned(application("b"), 2)
    assert [c[0] for c in cache.replace([a, b])] == ["ADDED", "ADDED"]
    assert cache.replace([a, b]) == []
    changes = cache.replace([versioned(application("b"), 3, intent="Marketing"), versioned(application("c"), 4)])
    assert sorted((c[0], (c[2] or c[1]).name) for c in changes) == [  # type: ignore[union-attr]
        ("ADDED", "c"),
        ("DELETED", "a"),
        ("MODIFIED", "b"),
    ]
