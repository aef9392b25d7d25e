"""Kubernetes API semantics every `Cluster` implementation must honour."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from m4d.api import M4DApplication, MemberCluster
from m4d.api.application import M4DApplicationStatus
from m4d.api.cluster import MemberClusterStatus
from m4d.api.meta import Condition
from m4d.cluster.interface import Cluster, WatchEvent
from m4d.errors import AlreadyExistsError, ConflictError, InvalidError, NotFoundError
from tests.factories import application, member


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_create_sets_server_fields_and_drops_status(cluster: Cluster, ns: str) -> None:
    app = application("a", ns)
    app.status = M4DApplicationStatus(ready=True)
    created = cluster.create(app)
    assert created.metadata.uid
    assert created.metadata.resource_version
    assert created.metadata.generation == 1
    assert created.metadata.creation_timestamp is not None
    assert created.status is None or created.status.ready is False
    got = cluster.get(M4DApplication, "a", ns)
    assert got.spec == app.spec
    assert got.metadata.uid == created.metadata.uid


def test_create_twice_is_already_exists(cluster: Cluster, ns: str) -> None:
    cluster.create(application("a", ns))
    with pytest.raises(AlreadyExistsError):
        cluster.create(application("a", ns))


def test_get_and_delete_missing_are_not_found(cluster: Cluster, ns: str) -> None:
    with pytest.raises(NotFoundError):
        cluster.get(M4DApplication, "nope", ns)
    with pytest.raises(NotFoundError):
        cluster.delete(M4DApplication, "nope", ns)


def test_create_with_resource_version_is_invalid(cluster: Cluster, ns: str) -> None:
    app = application("a", ns)
    app.metadata.resource_version = "12"
    with pytest.raises(InvalidError):
        cluster.create(app)


def test_invalid_object_is_rejected_naming_the_field(cluster: Cluster, ns: str) -> None:
    app = application("a", ns)
    broken = app.model_copy(update={"spec": app.spec.model_copy(update={"data": []})})
    with pytest.raises(InvalidError) as info:
        cluster.create(broken)
    assert "spec.data" in str(info.value)
    with pytest.raises(NotFoundError):
        cluster.get(M4DApplication, "a", ns)


def test_update_with_stale_resource_version_conflicts(cluster: Cluster, ns: str) -> None:
    first = cluster.create(application("a", ns))
    first.spec.app_info.intent = "Marketing"
    second = cluster.update(first)
    assert int(second.metadata.resource_version or 0) > int(first.metadata.resource_version or 0)
    first.spec.app_info.intent = "Research"
    with pytest.raises(ConflictError):
        cluster.update(first)  # still carries the old resourceVersion
    assert cluster.get(M4DApplication, "a", ns).spec.app_info.intent == "Marketing"


def test_generation_moves_on_spec_changes_only(cluster: Cluster, ns: str) -> None:
    app = cluster.create(application("a", ns))
    app.metadata.labels = {"team": "risk"}
    relabeled = cluster.update(app)
    assert relabeled.metadata.generation == 1
    assert relabeled.metadata.labels == {"team": "risk"}
    relabeled.spec.app_info.role = "analyst"
    changed = cluster.update(relabeled)
    assert changed.metadata.generation == 2


def test_noop_update_keeps_resource_version(cluster: Cluster, ns: str) -> None:
    app = cluster.create(application("a", ns))
    again = cluster.update(app)
    assert again.metadata.resource_version == app.metadata.resource_version


def test_status_is_a_subresource(cluster: Cluster, ns: str) -> None:
    app = cluster.create(application("a", ns))
    app.status = M4DApplicationStatus(ready=True, observed_generation=1)
    app.spec.app_info.intent = "ignored by the status write"
    with_status = cluster.update_status(app)
    assert with_status.status is not None and with_status.status.ready is True
    assert with_status.spec.app_info.intent == "Fraud Detection"
    assert with_status.metadata.generation == 1
    # A spec update does not touch status.
    with_status.spec.app_info.intent = "Marketing"
    with_status.status = M4DApplicationStatus(ready=False)
    updated = cluster.update(with_status)
    assert updated.status is not None and updated.status.ready is True
    assert updated.metadata.generation == 2


def test_status_write_with_stale_resource_version_conflicts(cluster: Cluster, ns: str) -> None:
    app = cluster.create(application("a", ns))
    app.status = M4DApplicationStatus(ready=True)
    cluster.update_status(app)
    app.status = M4DApplicationStatus(ready=False)
    with pytest.raises(ConflictError):
        cluster.update_status(app)


def test_invalid_status_is_rejected_naming_the_field_and_nothing_changes(cluster: Cluster) -> None:
    name = unique("mc")
    mc = cluster.create(member(name))
    cond = Condition(type="Ready", status="True", reason="Heartbeat", message="agent alive")
    bad = cond.model_copy(update={"status": "Maybe"})  # past the model's own check, as a foreign client would
    mc.status = MemberClusterStatus(conditions=[bad], applied_revision="abc")
    with pytest.raises(InvalidError) as caught:
        cluster.update_status(mc)
    assert "status.conditions[0].status" in str(caught.value)
    assert cluster.get(MemberCluster, name).status is None
    cluster.delete(MemberCluster, name)


def test_status_conditions_round_trip(cluster: Cluster) -> None:
    name = unique("mc")
    mc = cluster.create(member(name))
    cond = Condition(type="Ready", status="True", reason="Heartbeat", message="agent alive")
    mc.status = MemberClusterStatus(conditions=[cond], applied_revision="abc")
    stored = cluster.update_status(mc)
    assert stored.status is not None
    assert stored.status.conditions[0].reason == "Heartbeat"
    assert cluster.get(MemberCluster, name).status == stored.status
    cluster.delete(MemberCluster, name)


def test_list_filters_by_namespace_and_labels(cluster: Cluster, ns: str) -> None:
    other = f"{ns}-x"
    ensure = getattr(cluster, "ensure_namespace", None)
    if ensure is not None:
        ensure(other)
    for name, labels in [("b", {"tier": "gold", "team": "risk"}), ("a", {"tier": "silver"}), ("c", {})]:
        app = application(name, ns)
        app.metadata.labels = labels
        cluster.create(app)
    cluster.create(application("z", other))

    def names(selector: str | None = None, namespace: str | None = ns) -> list[str]:
        return [o.name for o in cluster.list(M4DApplication, namespace, selector).items if o.namespace in (ns, other)]

    assert names() == ["a", "b", "c"]
    assert names("tier=gold") == ["b"]
    assert names("tier!=gold") == ["a", "c"]
    assert names("tier in (gold,silver)") == ["a", "b"]
    assert names("tier notin (gold)") == ["a", "c"]
    assert names("team") == ["b"]
    assert names("!tier") == ["c"]
    assert names("tier=gold,team=risk") == ["b"]
    assert sorted(names(namespace=None)) == ["a", "b", "c", "z"]


def test_resource_versions_increase_across_kinds(cluster: Cluster, ns: str) -> None:
    a = cluster.create(application("a", ns))
    m = cluster.create(member(unique("mc")))
    b = cluster.create(application("b", ns))
    versions = [int(o.metadata.resource_version or 0) for o in (a, m, b)]
    assert versions == sorted(versions) and len(set(versions)) == 3
    cluster.delete(MemberCluster, m.name)


def collect(events: list[WatchEvent[M4DApplication]]) -> list[tuple[str, str]]:
    return [(e.type, e.object.name) for e in events if e.object is not None]


def test_watch_from_a_resource_version_sees_later_changes_in_order(cluster: Cluster, ns: str) -> None:
    start = cluster.list(M4DApplication, ns).resource_version
    a = cluster.create(application("a", ns))
    a.spec.app_info.intent = "Marketing"
    cluster.update(a)
    cluster.delete(M4DApplication, "a", ns)
    events = list(cluster.watch(M4DApplication, ns, start, timeout=0.5))
    assert collect(events) == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
    assert events[-1].type == "BOOKMARK" or events[-1].object is not None


def test_watch_resumes_from_any_seen_version(cluster: Cluster, ns: str) -> None:
    start = cluster.list(M4DApplication, ns).resource_version
    cluster.create(application("a", ns))
    middle = cluster.create(application("b", ns)).metadata.resource_version
    cluster.create(application("c", ns))
    all_events = collect(list(cluster.watch(M4DApplication, ns, start, timeout=0.5)))
    later = collect(list(cluster.watch(M4DApplication, ns, middle, timeout=0.5)))
    assert all_events == [("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c")]
    assert later == [("ADDED", "c")]


def test_watch_without_version_starts_with_current_objects(cluster: Cluster, ns: str) -> None:
    cluster.create(application("a", ns))
    events = list(cluster.watch(M4DApplication, ns, timeout=0.5))
    assert ("ADDED", "a") in collect(events)


def test_watch_delivers_changes_made_while_watching(cluster: Cluster, ns: str) -> None:
    start = cluster.list(M4DApplication, ns).resource_version
    stream = cluster.watch(M4DApplication, ns, start)
    seen: list[tuple[str, str]] = []

    def consume() -> None:
        for event in stream:
            if event.object is not None:
                seen.append((event.type, event.object.name))
                if len(seen) == 2:
                    stream.close()

    thread = threading.Thread(target=consume)
    thread.start()
    cluster.create(application("a", ns))
    cluster.create(application("b", ns))
    thread.join(15)
    assert not thread.is_alive()
    assert seen == [("ADDED", "a"), ("ADDED", "b")]


def test_closing_an_idle_watch_ends_it_at_once_and_nothing_was_polled(cluster: Cluster, ns: str) -> None:
    start = cluster.list(M4DApplication, ns).resource_version
    watches = cluster.requests["watch"]
    stream = cluster.watch(M4DApplication, ns, start)
    events: list[str] = []
    thread = threading.Thread(target=lambda: events.extend(e.type for e in stream))
    thread.start()
    time.sleep(2.5)
    closed_at = time.monotonic()
    stream.close()
    thread.join(10)
    assert not thread.is_alive()
    assert time.monotonic() - closed_at < 2.0
    assert events == []
    assert cluster.requests["watch"] - watches == 1  # one request all along: no re-polling


def test_watch_with_selector_reports_objects_moving_in_and_out(cluster: Cluster, ns: str) -> None:
    start = cluster.list(M4DApplication, ns).resource_version
    app = cluster.create(application("a", ns))
    app.metadata.labels = {"watched": "yes"}
    app = cluster.update(app)
    app.metadata.labels = {}
    cluster.update(app)
    events = collect(list(cluster.watch(M4DApplication, ns, start, "watched=yes", timeout=0.5)))
    assert events == [("ADDED", "a"), ("DELETED", "a")]


def test_delete_with_finalizers_marks_then_removes(cluster: Cluster, ns: str) -> None:
    app = application("a", ns)
    app.metadata.finalizers = ["app.m4d.dev/test"]
    cluster.create(app)
    marked = cluster.delete(M4DApplication, "a", ns)
    assert marked is not None and marked.metadata.deletion_timestamp is not None
    still = cluster.get(M4DApplication, "a", ns)
    assert still.metadata.deletion_timestamp is not None
    still.metadata.finalizers = ["app.m4d.dev/test", "app.m4d.dev/late"]
    with pytest.raises(InvalidError):
        cluster.update(still)
    still.metadata.finalizers = []
    cluster.update(still)
    with pytest.raises(NotFoundError):
        cluster.get(M4DApplication, "a", ns)


def test_delete_without_finalizers_removes_at_once(cluster: Cluster, ns: str) -> None:
    cluster.create(application("a", ns))
    assert cluster.delete(M4DApplication, "a", ns) is None
    with pytest.raises(NotFoundError):
        cluster.get(M4DApplication, "a", ns)


def test_apply_creates_then_converges(cluster: Cluster, ns: str) -> None:
    desired = application("a", ns)
    desired.metadata.labels = {"owner": "test"}
    created = cluster.apply(desired, field_manager="contract")
    assert created.metadata.generation == 1
    again = cluster.apply(desired, field_manager="contract")
    assert again.metadata.resource_version == created.metadata.resource_version
    created.status = M4DApplicationStatus(ready=True)
    cluster.update_status(created)
    desired.spec.app_info.intent = "Marketing"
    changed = cluster.apply(desired, field_manager="contract")
    assert changed.metadata.generation == 2
    assert changed.spec.app_info.intent == "Marketing"
    assert changed.metadata.labels["owner"] == "test"
    assert changed.status is not None and changed.status.ready is True


def test_cluster_scoped_kinds_ignore_namespaces(cluster: Cluster) -> None:
    name = unique("mc")
    cluster.create(member(name, labels={"env": "test"}))
    assert cluster.get(MemberCluster, name).metadata.namespace is None
    assert name in [m.name for m in cluster.list(MemberCluster, label_selector="env=test").items]
    cluster.delete(MemberCluster, name)
