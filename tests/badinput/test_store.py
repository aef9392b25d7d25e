"""The store refuses what a Kubernetes API server refuses, with the error the platform's callers act on, and
keeps nothing of a refused write; on the embedded store and on a real kube-apiserver alike."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from m4d.api import M4DApplication, MemberCluster
from m4d.cluster.interface import Cluster
from m4d.cluster.kube import KubeCluster
from m4d.cluster.local import LocalCluster
from m4d.errors import AlreadyExistsError, ConflictError, InvalidError, M4DError, NotFoundError
from tests.badinput import documents as d
from tests.badinput.harness import assert_refused, run_cli
from tests.factories import application, member
from tests.testenv.servers import ApiServer

MiB = 1024 * 1024


@dataclass
class World:
    cluster: Cluster
    ns: str
    prefix: str

    def name(self, suffix: str) -> str:
        return f"{self.prefix}-{suffix}"

    def state(self) -> tuple[object, ...]:
        apps = self.cluster.list(M4DApplication, self.ns).items
        members = [m for m in self.cluster.list(MemberCluster).items if m.name.startswith(self.prefix)]
        return tuple((o.kind, o.name, o.metadata.resource_version) for o in [*apps, *members])


def big(world: World, suffix: str, size: int) -> MemberCluster:
    obj = member(world.name(suffix))
    obj.spec.labels = {f"k{i}": "x" * (64 * 1024) for i in range(size // (64 * 1024))}
    return obj


def deleting(world: World) -> M4DApplication:
    app = application("held", world.ns)
    app.metadata.finalizers = ["x.dev/keep"]
    world.cluster.create(app)
    world.cluster.delete(M4DApplication, "held", world.ns)
    return world.cluster.get(M4DApplication, "held", world.ns)


def stored(world: World) -> M4DApplication:
    return world.cluster.create(application("stored", world.ns))


def with_finalizer(app: M4DApplication, name: str) -> M4DApplication:
    copy = app.model_copy(deep=True)
    copy.metadata.finalizers = [*copy.metadata.finalizers, name]
    return copy


def grown(world: World) -> M4DApplication:
    app = stored(world)
    app.metadata.annotations = {"note": "n"}
    app.spec.app_info.intent = "x" * (2 * MiB)
    return app


def stale(world: World) -> M4DApplication:
    app = stored(world)
    world.cluster.update(app.model_copy(update={"metadata": app.metadata.model_copy(update={"labels": {"a": "b"}})}))
    app.spec.app_info.intent = "changed"
    return app


def nothing(world: World) -> None:
    return None


@dataclass(frozen=True)
class Case:
    """`setup` stores what the case needs and returns the refused write's input; `act` makes the write."""

    id: str
    setup: Callable[[World], Any]
    act: Callable[[World, Any], object]
    error: type[M4DError]
    says: str


def _with_rv(w: World) -> M4DApplication:
    app = application("rv", w.ns)
    app.metadata.resource_version = "9"
    return app


def _invalid(w: World) -> M4DApplication:
    app = application("bad", w.ns)
    return app.model_copy(update={"spec": app.spec.model_copy(update={"data": []})})


too_large = "too large to store"
CASES = [
    Case(
        "create-over-1.5mib", lambda w: big(w, "a", 2 * MiB), lambda w, o: w.cluster.create(o), InvalidError, too_large
    ),
    Case(
        "create-just-over-1.5mib",
        lambda w: big(w, "b", 1600 * 1024),
        lambda w, o: w.cluster.create(o),
        InvalidError,
        too_large,
    ),
    Case(
        "dry-run-create-over-1.5mib",
        lambda w: big(w, "c", 2 * MiB),
        lambda w, o: w.cluster.create(o, dry_run=True),
        InvalidError,
        too_large,
    ),
    Case(
        "apply-over-1.5mib",
        lambda w: big(w, "d", 2 * MiB),
        lambda w, o: w.cluster.apply(o, "t"),
        InvalidError,
        too_large,
    ),
    Case(
        "dry-run-apply-over-1.5mib",
        lambda w: big(w, "e", 2 * MiB),
        lambda w, o: w.cluster.apply(o, "t", dry_run=True),
        InvalidError,
        too_large,
    ),
    Case("update-grows-over-1.5mib", grown, lambda w, o: w.cluster.update(o), InvalidError, too_large),
    Case("dry-run-update-over-1.5mib", grown, lambda w, o: w.cluster.update(o, dry_run=True), InvalidError, too_large),
    Case(
        "apply-finalizer-on-deleting",
        lambda w: with_finalizer(deleting(w), "x.dev/late"),
        lambda w, o: w.cluster.apply(o, "t"),
        InvalidError,
        "finalizers",
    ),
    Case(
        "dry-run-apply-finalizer-on-deleting",
        lambda w: with_finalizer(deleting(w), "x.dev/late"),
        lambda w, o: w.cluster.apply(o, "t", dry_run=True),
        InvalidError,
        "finalizers",
    ),
    Case(
        "update-finalizer-on-deleting",
        lambda w: with_finalizer(deleting(w), "x.dev/late"),
        lambda w, o: w.cluster.update(o),
        InvalidError,
        "finalizers",
    ),
    Case("create-with-resource-version", _with_rv, lambda w, o: w.cluster.create(o), InvalidError, "resourceVersion"),
    Case("update-stale", stale, lambda w, o: w.cluster.update(o), ConflictError, "modified"),
    Case("dry-run-update-stale", stale, lambda w, o: w.cluster.update(o, dry_run=True), ConflictError, "modified"),
    Case("status-stale", stale, lambda w, o: w.cluster.update_status(o), ConflictError, "modified"),
    Case(
        "create-twice",
        lambda w: (stored(w), application("stored", w.ns))[1],
        lambda w, o: w.cluster.create(o),
        AlreadyExistsError,
        "stored",
    ),
    Case(
        "dry-run-create-twice",
        lambda w: (stored(w), application("stored", w.ns))[1],
        lambda w, o: w.cluster.create(o, dry_run=True),
        AlreadyExistsError,
        "stored",
    ),
    Case(
        "update-missing", lambda w: application("ghost", w.ns), lambda w, o: w.cluster.update(o), NotFoundError, "ghost"
    ),
    Case(
        "status-missing",
        lambda w: application("ghost", w.ns),
        lambda w, o: w.cluster.update_status(o),
        NotFoundError,
        "ghost",
    ),
    Case(
        "delete-missing", nothing, lambda w, o: w.cluster.delete(M4DApplication, "ghost", w.ns), NotFoundError, "ghost"
    ),
    Case(
        "list-bad-selector",
        nothing,
        lambda w, o: w.cluster.list(M4DApplication, w.ns, "a in (b"),
        InvalidError,
        "selector",
    ),
    Case(
        "list-selector-bad-key",
        nothing,
        lambda w, o: w.cluster.list(M4DApplication, w.ns, "bad key!=x"),
        InvalidError,
        "selector",
    ),
    Case("create-invalid-spec", _invalid, lambda w, o: w.cluster.create(o), InvalidError, "spec.data"),
]


CLASSES = {"writes the store refuses (embedded store and kube-apiserver)": CASES}


@pytest.fixture(params=["local", pytest.param("kube", marks=pytest.mark.integration)])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    if request.param == "local":
        store = LocalCluster(tmp_path / "hub.db", name="hub")
        yield store
        store.close()
    else:
        yield request.getfixturevalue("kube_cluster")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_store_refuses_and_keeps_nothing(case: Case, cluster: Cluster) -> None:
    world = World(cluster, f"t-{uuid.uuid4().hex[:8]}", f"bi-{uuid.uuid4().hex[:6]}")
    ensure = getattr(cluster, "ensure_namespace", None)
    if ensure is not None:
        ensure(world.ns)
    given = case.setup(world)
    before = world.state()
    with pytest.raises(case.error) as info:
        case.act(world, given)
    assert case.says in str(info.value)
    assert world.state() == before, "the refused write changed the store"


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_apply_on_a_real_hub_stores_nothing_of_a_refused_input(
    hub_api: ApiServer, kube_cluster: KubeCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`m4d --kube-context` apply: the real server's dry run refuses the second document, the first is not
    created either."""
    ns = f"t-{uuid.uuid4().hex[:8]}"
    kube_cluster.ensure_namespace(ns)
    held = application("held", ns)
    held.metadata.finalizers = ["x.dev/keep"]
    kube_cluster.create(held)
    kube_cluster.delete(M4DApplication, "held", ns)
    fresh = f"bi-{uuid.uuid4().hex[:6]}"
    docs = d.stream(d.member(fresh), d.app("held", extra_meta=f"  namespace: {ns}\n  finalizers: [x.dev/late]\n"))
    (tmp_path / "two.yaml").write_bytes(docs)
    monkeypatch.setenv("KUBECONFIG", str(hub_api.kubeconfig))
    before = kube_cluster.get(M4DApplication, "held", ns).metadata.resource_version
    outcome = run_cli(["--kube-context", hub_api.context, "apply", "-f", str(tmp_path / "two.yaml")])
    assert_refused(outcome, ("1 of 2 document(s) refused by cluster", "document 2 (M4DApplication held)", "finalizers"))
    with pytest.raises(NotFoundError):
        kube_cluster.get(MemberCluster, fresh)
    assert kube_cluster.get(M4DApplication, "held", ns).metadata.resource_version == before
    marked = kube_cluster.get(M4DApplication, "held", ns)
    marked.metadata.finalizers = []
    kube_cluster.update(marked)
