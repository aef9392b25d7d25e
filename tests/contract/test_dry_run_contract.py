"""Dry runs and the object size limit, on every `Cluster` implementation (the real one with `dryRun=All`).

A dry run goes through every check a write would (schema, names, the stored object's state) and stores
nothing: no object, no new resourceVersion, no watch event.
"""

from __future__ import annotations

import uuid

import pytest

from m4d.api import M4DApplication, MemberCluster
from m4d.cluster.interface import Cluster
from m4d.errors import AlreadyExistsError, InvalidError, NotFoundError
from tests.factories import application, member


def _version(cluster: Cluster, ns: str) -> str:
    return cluster.list(M4DApplication, ns).resource_version


def test_dry_run_create_checks_and_stores_nothing(cluster: Cluster, ns: str) -> None:
    checked = cluster.create(application("a", ns), dry_run=True)
    assert checked.name == "a"
    assert checked.spec == application("a", ns).spec
    with pytest.raises(NotFoundError):
        cluster.get(M4DApplication, "a", ns)
    cluster.create(application("a", ns))
    with pytest.raises(AlreadyExistsError):
        cluster.create(application("a", ns), dry_run=True)


def test_dry_run_create_refuses_what_a_write_refuses(cluster: Cluster, ns: str) -> None:
    app = application("a", ns)
    broken = app.model_copy(update={"spec": app.spec.model_copy(update={"data": []})})
    with pytest.raises(InvalidError, match=r"spec\.data"):
        cluster.create(broken, dry_run=True)


def test_dry_run_update_leaves_the_object_as_it_was(cluster: Cluster, ns: str) -> None:
    stored = cluster.create(application("a", ns))
    changed = stored.model_copy(deep=True)
    changed.spec.app_info.intent = "Marketing"
    answer = cluster.update(changed, dry_run=True)
    assert answer.spec.app_info.intent == "Marketing"
    after = cluster.get(M4DApplication, "a", ns)
    assert after.spec.app_info.intent == stored.spec.app_info.intent
    assert after.metadata.resource_version == stored.metadata.resource_version


def test_dry_run_apply_sees_the_stored_state(cluster: Cluster, ns: str) -> None:
    """A finalizer cannot be added to an object being deleted: the dry run says so, as the write would."""
    app = application("a", ns)
    app.metadata.finalizers = ["app.m4d.dev/test"]
    cluster.create(app)
    cluster.delete(M4DApplication, "a", ns)
    marked = cluster.get(M4DApplication, "a", ns)
    wanted = application("a", ns)
    wanted.metadata.finalizers = ["app.m4d.dev/late"]
    with pytest.raises(InvalidError, match="finalizers"):
        cluster.apply(wanted, field_manager="contract", dry_run=True)
    again = cluster.get(M4DApplication, "a", ns)
    assert again.metadata.resource_version == marked.metadata.resource_version
    marked.metadata.finalizers = []
    cluster.update(marked)


def test_dry_run_apply_creates_nothing(cluster: Cluster, ns: str) -> None:
    before = _version(cluster, ns)
    cluster.apply(application("a", ns), field_manager="contract", dry_run=True)
    with pytest.raises(NotFoundError):
        cluster.get(M4DApplication, "a", ns)
    assert cluster.list(M4DApplication, ns).items == []
    assert int(_version(cluster, ns)) >= int(before)


def _sized(name: str, total: int) -> MemberCluster:
    """A MemberCluster whose labels hold about `total` bytes."""
    cluster = member(name)
    chunk = 64 * 1024
    cluster.spec.labels = {f"k{i}": "x" * chunk for i in range(total // chunk)}
    return cluster


@pytest.mark.parametrize("size", [1600 * 1024, 2 * 1024 * 1024], ids=["1.6MiB", "2MiB"])
def test_object_over_the_size_limit_is_refused(cluster: Cluster, size: int) -> None:
    """Over 1.5 MiB (etcd's request limit) an object is invalid, not a reason to retry."""
    name = f"big-{uuid.uuid4().hex[:8]}"
    with pytest.raises(InvalidError, match="too large to store"):
        cluster.create(_sized(name, size))
    with pytest.raises(InvalidError, match="too large to store"):
        cluster.create(_sized(name, size), dry_run=True)
    with pytest.raises(NotFoundError):
        cluster.get(MemberCluster, name)
    fits = cluster.create(_sized(name, 1024 * 1024))
    assert len(fits.spec.labels) == 16
    cluster.delete(MemberCluster, name)
