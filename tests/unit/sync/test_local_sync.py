"""The embedded sync against a real bare repository: create, update, prune, self-heal, applied revision."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from m4d.api import Blueprint, MemberCluster, Plotter
from m4d.api.common import Action, Connection, DataStore, Interface
from m4d.api.module import ModuleDeployment
from m4d.api.plotter import AppRef, PlotterAsset, PlotterFlow, PlotterModule, PlotterSpec, Step
from m4d.cluster.local import LocalCluster
from m4d.controllers.sync.local import LocalSync
from m4d.controllers.sync.plan import REVISION_ANNOTATION
from m4d.generator.config import RenderConfig
from m4d.generator.tree import render_tree
from tests.factories import member


def plotter(app: str, cluster: str, columns: tuple[str, ...] = ("ssn",)) -> Plotter:
    store = DataStore(connection=Connection(kind="file", properties={"path": f"/data/{app}.parquet"}), format="parquet")
    return Plotter.new(
        app,
        "default",
        spec=PlotterSpec(
            application=AppRef(name=app, namespace="default", uid=f"uid-{app}", generation=1),
            assets={"finance/tx": PlotterAsset(store=store, geography="eu-de")},
            modules={
                "read": PlotterModule(
                    module="arrow-flight",
                    deployment=ModuleDeployment(command=["m4d"]),
                    api=Interface(protocol="fybrik-arrow-flight"),
                )
            },
            flows=[
                PlotterFlow(
                    name="read-tx",
                    asset_id="finance/tx",
                    flow="read",
                    steps=[
                        Step(
                            name="read",
                            cluster=cluster,
                            module="read",
                            capability="read",
                            source=store,
                            actions=[Action(name="RedactColumn", columns=list(columns))],
                            api=Interface(protocol="fybrik-arrow-flight"),
                        )
                    ],
                )
            ],
        ),
    )


class Repo:
    def __init__(self, root: Path) -> None:
        self.bare = root / "gitops.git"
        self.work = root / "work"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(self.bare)], check=True)
        subprocess.run(["git", "init", "-q", "-b", "main", str(self.work)], check=True)

    def commit(self, files: dict[str, bytes], message: str) -> str:
        for old in self.work.rglob("*.yaml"):
            old.unlink()
        for path, content in files.items():
            target = self.work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        git = ["git", "-C", str(self.work), "-c", "user.name=t", "-c", "user.email=t@example.com"]
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", message], check=True)
        subprocess.run([*git, "push", "-q", str(self.bare), "HEAD:main"], check=True)
        return subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Repo, LocalCluster, dict[str, LocalCluster], LocalSync]]:
    repo = Repo(tmp_path)
    hub = LocalCluster(tmp_path / "hub.db", name="hub")
    members = {n: LocalCluster(tmp_path / f"{n}.db", name=n) for n in ("m1", "m2")}
    for name in members:
        hub.create(member(name))
    sync = LocalSync(repo.bare, hub, members.__getitem__)
    yield repo, hub, members, sync
    for store in (hub, *members.values()):
        store.close()


def tree(plotters: list[Plotter], hub: LocalCluster) -> dict[str, bytes]:
    result = render_tree(plotters, hub.list(MemberCluster).items, RenderConfig(repo_url="file:///gitops.git"))
    assert not result.errors
    return result.rendered.files


def test_sync_creates_updates_and_prunes(world) -> None:  # type: ignore[no-untyped-def]
    repo, hub, members, sync = world
    assert sync.sync_once() == {}  # empty repository: nothing to do yet

    first = repo.commit(tree([plotter("a", "m1"), plotter("b", "m2")], hub), "two apps")
    plans = sync.sync_once()
    assert {n: (len(p.create), len(p.prune)) for n, p in plans.items()} == {"m1": (1, 0), "m2": (1, 0)}
    (bp,) = members["m1"].list(Blueprint).items
    assert bp.spec.application.name == "a"
    assert bp.metadata.annotations[REVISION_ANNOTATION] == first
    assert hub.get(MemberCluster, "m1").status.applied_revision == first  # type: ignore[union-attr]

    # Same revision again: nothing happens.
    assert sync.sync_once() == {}

    second = repo.commit(tree([plotter("a", "m1", ("ssn", "email"))], hub), "a changes, b goes")
    plans = sync.sync_once()
    assert (len(plans["m1"].update), len(plans["m2"].prune)) == (1, 1)
    (bp,) = members["m1"].list(Blueprint).items
    assert bp.spec.modules[0].assets[0].actions[0].columns == ["ssn", "email"]
    assert bp.metadata.annotations[REVISION_ANNOTATION] == second
    assert members["m2"].list(Blueprint).items == []


def test_unchanged_blueprints_keep_the_revision_that_changed_them(world) -> None:  # type: ignore[no-untyped-def]
    repo, hub, members, sync = world
    first = repo.commit(tree([plotter("a", "m1")], hub), "a")
    sync.sync_once()
    repo.commit(tree([plotter("a", "m1"), plotter("b", "m2")], hub), "b")
    sync.sync_once()
    (bp,) = members["m1"].list(Blueprint).items
    assert bp.metadata.annotations[REVISION_ANNOTATION] == first


def test_self_heal_repairs_drift_and_leaves_unmanaged_objects(world) -> None:  # type: ignore[no-untyped-def]
    repo, hub, members, sync = world
    repo.commit(tree([plotter("a", "m1")], hub), "a")
    sync.sync_once()
    (bp,) = members["m1"].list(Blueprint).items
    bp.spec.modules[0].assets[0].actions = []  # someone edits the member by hand
    members["m1"].update(bp)
    stray = bp.model_copy(deep=True)
    stray.metadata = stray.metadata.model_copy(
        update={"name": "hand-made", "labels": {}, "annotations": {}, "resource_version": None}
    )
    members["m1"].create(stray)
    plans = sync.sync_once(force=True)
    assert len(plans["m1"].update) == 1 and plans["m1"].prune == []
    healed = members["m1"].get(Blueprint, bp.name, bp.namespace)
    assert healed.spec.modules[0].assets[0].actions[0].name == "RedactColumn"
    assert members["m1"].get(Blueprint, "hand-made", bp.namespace)


def test_prune_removes_only_what_the_sync_applied(world) -> None:  # type: ignore[no-untyped-def]
    """As Argo CD prunes only what it tracks: a hand-made object keeps living even with the managed-by label,
    and an applied one goes when it leaves the folder even after someone took its label away."""
    repo, hub, members, sync = world
    repo.commit(tree([plotter("a", "m1"), plotter("b", "m1")], hub), "a and b")
    sync.sync_once()
    bp_a, bp_b = members["m1"].list(Blueprint).items
    stray = bp_a.model_copy(deep=True)
    stray.metadata = stray.metadata.model_copy(
        update={"name": "hand-made", "annotations": {}, "labels": dict(bp_a.metadata.labels), "resource_version": None}
    )
    members["m1"].create(stray)
    bp_b.metadata.labels = {}
    members["m1"].update(bp_b)
    repo.commit(tree([plotter("a", "m1")], hub), "b goes")
    plans = sync.sync_once()
    assert [o.name for o in plans["m1"].prune] == [bp_b.name]
    assert sorted(bp.name for bp in members["m1"].list(Blueprint).items) == sorted([bp_a.name, "hand-made"])


def test_a_broken_folder_fails_only_its_cluster(world) -> None:  # type: ignore[no-untyped-def]
    repo, hub, members, sync = world
    files = tree([plotter("a", "m1"), plotter("b", "m2")], hub)
    broken = next(p for p in files if p.startswith("clusters/m2/blueprints/"))
    files[broken] = b"apiVersion: app.m4d.dev/v1alpha1\nkind: Blueprint\nmetadata: {name: x}\nspec: {cluster: 3}\n"
    repo.commit(files, "broken m2")
    plans = sync.sync_once()
    assert set(plans) == {"m1"}
    assert members["m2"].list(Blueprint).items == []
