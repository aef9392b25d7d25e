"""The Plotter controller under the runtime Manager: embedded hub store, real bare Git repository."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from m4d.api.blueprint import Blueprint, spec_hash
from m4d.api.cluster import MemberCluster
from m4d.api.meta import find_condition
from m4d.api.plotter import Plotter
from m4d.cluster.connect import HubLayout
from m4d.cluster.local import LocalCluster
from m4d.controllers.plotter import FINALIZER, PlotterController
from m4d.errors import NotFoundError
from m4d.gitops.settings import GitOpsSettings
from m4d.runtime.manager import Manager
from tests.integration.generator.gitservers import git
from tests.unit.generator.plans import member, plotter

pytestmark = pytest.mark.integration


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LocalCluster]:
    store = LocalCluster(tmp_path / "hub" / "hub.db", name="hub")
    yield store
    store.close()


def settings(tmp_path: Path, mode: str = "direct") -> GitOpsSettings:
    layout = HubLayout(tmp_path / "hub")
    return GitOpsSettings.resolve(layout.gitops_repo, layout.root, mode=mode)


def run(hub: LocalCluster, tmp_path: Path, mode: str = "direct") -> None:
    """One start of the hub's Plotter controller until it is idle (a fresh process each time)."""
    with running(hub, tmp_path, mode) as settle:
        settle()


@contextmanager
def running(hub: LocalCluster, tmp_path: Path, mode: str = "direct") -> Iterator[Callable[[], None]]:
    """The controller under a running Manager; `settle()` waits until it is idle again."""
    controller = PlotterController.for_hub(hub, settings(tmp_path, mode))
    manager = Manager([controller])
    manager.start()

    def settle(timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        since: float | None = None
        while time.monotonic() < deadline:
            if manager.idle():
                since = since or time.monotonic()
                if time.monotonic() - since > 0.5:
                    return
            else:
                since = None
            time.sleep(0.02)
        raise AssertionError(f"the controller did not settle: {manager.failing()}")

    try:
        yield settle
    finally:
        manager.stop()
        controller.close()


def repo(tmp_path: Path) -> Path:
    return tmp_path / "hub" / "gitops.git"


def history(tmp_path: Path) -> list[str]:
    return git("--git-dir", str(repo(tmp_path)), "log", "--format=%H %s", "main").splitlines()


def tree(tmp_path: Path) -> list[str]:
    return git("--git-dir", str(repo(tmp_path)), "ls-tree", "-r", "--name-only", "main").split()


def create(hub: LocalCluster, obj: Plotter) -> Plotter:
    obj = obj.model_copy(update={"metadata": obj.metadata.model_copy(update={"uid": None, "generation": None})})
    return hub.create(obj)


def test_plotters_become_commits_status_and_restarts_change_nothing(hub: LocalCluster, tmp_path: Path) -> None:
    for name in ("member1", "member2"):
        hub.create(member(name))
    create(hub, plotter("app", clusters=("member1", "member2")))
    run(hub, tmp_path)

    assert repo(tmp_path).is_dir()  # the embedded default repository, created on first use
    files = tree(tmp_path)
    assert len([f for f in files if "/blueprints/default-app-" in f]) == 2
    assert "argocd/clusters/member2.yaml" in files
    head = history(tmp_path)[0].split()[0]
    stored = hub.get(Plotter, "app", "default")
    assert FINALIZER in stored.metadata.finalizers
    status = stored.status
    assert status is not None and status.committed_revision == head
    assert {c: s.phase for c, s in status.clusters.items()} == {"member1": "WaitApplied", "member2": "WaitApplied"}
    for cluster, state in status.clusters.items():
        assert state.committed_revision == head and state.blueprint.startswith("default-app-")
        # The digest the aggregator matches an agent's report against: that of the Blueprint in Git.
        text = git(
            "--git-dir", str(repo(tmp_path)), "show", f"main:clusters/{cluster}/blueprints/{state.blueprint}.yaml"
        )
        assert state.spec_hash == spec_hash(Blueprint.model_validate(yaml.safe_load(text)).spec)
    committed = find_condition(status.conditions, "Committed")
    assert committed is not None and committed.status == "True"

    commits = history(tmp_path)
    run(hub, tmp_path)  # a restart: everything reconciled again
    assert history(tmp_path) == commits
    assert hub.get(Plotter, "app", "default").status == status


def test_a_changed_plan_is_one_commit_and_moves_only_the_changed_clusters(hub: LocalCluster, tmp_path: Path) -> None:
    for name in ("member1", "member2", "member3"):
        hub.create(member(name))
    create(hub, plotter("app", clusters=("member1", "member2")))
    create(hub, plotter("other", clusters=("member3",)))
    with running(hub, tmp_path) as settle:
        settle()
        before = hub.get(Plotter, "app", "default")
        assert before.status is not None
        # The aggregator saw member1 applied.
        applied = before.status.clusters["member1"].model_copy(update={"phase": "Ready", "applied_revision": "x"})
        before.status.clusters["member1"] = applied
        hub.update_status(before)
        commits = history(tmp_path)

        current = hub.get(Plotter, "app", "default")
        current.spec = plotter("app", clusters=("member1", "member3"), redact=("email",)).spec
        current.spec.flows[0].steps[0] = plotter("app", clusters=("member1",)).spec.flows[0].steps[0]
        hub.update(current)
        settle()

    after = history(tmp_path)
    assert len(after) == len(commits) + 1
    assert after[0].split(" ", 1)[1] == "Update default/app on member2, member3"
    status = hub.get(Plotter, "app", "default").status
    assert status is not None
    assert set(status.clusters) == {"member1", "member3"}
    assert status.clusters["member1"] == applied  # unchanged Blueprint: the aggregator's view stands
    assert status.clusters["member3"].phase == "WaitApplied"
    assert status.clusters["member3"].committed_revision == after[0].split()[0]
    assert status.committed_revision == after[0].split()[0]
    assert not [f for f in tree(tmp_path) if f.startswith("clusters/member2/blueprints/")]
    message = git("--git-dir", str(repo(tmp_path)), "log", "-1", "--format=%B", "main")
    assert "M4D-Plotter-Generation: 2" in message


def test_deleting_a_plotter_removes_its_blueprints_then_releases_it(hub: LocalCluster, tmp_path: Path) -> None:
    hub.create(member("member1"))
    create(hub, plotter("app"))
    run(hub, tmp_path)
    hub.delete(Plotter, "app", "default")
    run(hub, tmp_path)
    with pytest.raises(NotFoundError):
        hub.get(Plotter, "app", "default")
    assert not [f for f in tree(tmp_path) if "/blueprints/" in f]
    # Removed by the finalizer's commit, or by the start-up sync that runs before it (Plotters being
    # deleted are not rendered): either way one commit says so.
    assert history(tmp_path)[0].split(" ", 1)[1] in (
        "Remove default/app from member1",
        "Sync: remove default/app from member1",
    )


def test_a_bad_plan_is_a_condition_and_the_others_are_committed(hub: LocalCluster, tmp_path: Path) -> None:
    hub.create(member("member1"))
    create(hub, plotter("good"))
    create(hub, plotter("bad", clusters=("member9",)))
    run(hub, tmp_path)
    bad = hub.get(Plotter, "bad", "default").status
    assert bad is not None
    ready = find_condition(bad.conditions, "Ready")
    assert ready is not None and ready.status == "False" and ready.reason == "Invalid"
    assert "cluster 'member9' is not a MemberCluster" in ready.message
    assert [f for f in tree(tmp_path) if "/blueprints/default-good-" in f]
    assert not [f for f in tree(tmp_path) if "/blueprints/default-bad-" in f]


def test_a_removed_cluster_leaves_the_repository(hub: LocalCluster, tmp_path: Path) -> None:
    hub.create(member("member1"))
    hub.create(member("member2"))
    create(hub, plotter("app"))
    run(hub, tmp_path)
    assert "argocd/clusters/member2.yaml" in tree(tmp_path)
    hub.delete(MemberCluster, "member2")
    run(hub, tmp_path)
    assert not [f for f in tree(tmp_path) if "member2" in f]
    assert "argocd/clusters/member1.yaml" in tree(tmp_path)


def test_a_cluster_registered_while_the_hub_runs_gets_its_folder_without_any_plotter(
    hub: LocalCluster, tmp_path: Path
) -> None:
    with running(hub, tmp_path) as settle:
        settle()
        hub.create(member("member1"))
        settle()
        assert {"clusters/member1/namespace.yaml", "argocd/clusters/member1.yaml"} <= set(tree(tmp_path))


def test_review_mode_waits_for_the_merge(hub: LocalCluster, tmp_path: Path) -> None:
    hub.create(member("member1"))
    run(hub, tmp_path, mode="review")  # nothing to plan yet; the start-up sync proposes the registrations
    create(hub, plotter("app"))
    run(hub, tmp_path, mode="review")
    status = hub.get(Plotter, "app", "default").status
    assert status is not None and status.committed_revision is None
    committed = find_condition(status.conditions, "Committed")
    assert committed is not None and committed.reason == "AwaitingReview"
    heads = git("--git-dir", str(repo(tmp_path)), "for-each-ref", "--format=%(refname:short)", "refs/heads").split()
    (review,) = [h for h in heads if h.startswith("m4d/review/default-app-")]  # one pull request per change
    (sync,) = [h for h in heads if h.startswith("m4d/review/sync-")]  # the cluster registrations, on their own
    app_files = git("--git-dir", str(repo(tmp_path)), "show", "--name-only", "--format=", review).split()
    assert app_files and all("/blueprints/default-app-" in f for f in app_files)
    sync_files = git("--git-dir", str(repo(tmp_path)), "show", "--name-only", "--format=", sync).split()
    assert "argocd/clusters/member1.yaml" in sync_files and not [f for f in sync_files if "/blueprints/" in f]
    assert list((tmp_path / "hub" / "gitops-reviews").iterdir())
    # The reviewer merges; the next look finds the Blueprints on main.
    git("--git-dir", str(repo(tmp_path)), "update-ref", "refs/heads/main", review)
    run(hub, tmp_path, mode="review")
    status = hub.get(Plotter, "app", "default").status
    assert status is not None and status.committed_revision == history(tmp_path)[0].split()[0]
    committed = find_condition(status.conditions, "Committed")
    assert committed is not None and committed.status == "True"


def test_plotters_arriving_together_share_commits_each_named_in_them(hub: LocalCluster, tmp_path: Path) -> None:
    hub.create(member("member1"))
    with running(hub, tmp_path) as settle:
        settle()
        before = len(history(tmp_path))
        for i in range(30):
            create(hub, plotter(f"app{i:02d}"))
        settle()
        made = history(tmp_path)[: len(history(tmp_path)) - before]
        assert 1 <= len(made) <= 10  # batched: far fewer commits than Plotters
        messages = "\n".join(
            git("--git-dir", str(repo(tmp_path)), "log", "-1", "--format=%B", c.split()[0]) for c in made
        )
        for i in range(30):
            assert f"M4D-Plotter: default/app{i:02d}" in messages  # trailers per application
            status = hub.get(Plotter, f"app{i:02d}", "default").status
            assert status is not None and status.committed_revision in [c.split()[0] for c in made]
        again = history(tmp_path)
    run(hub, tmp_path)  # a restart commits nothing
    assert history(tmp_path) == again


def test_a_hand_edit_is_undone_with_no_write_to_notice_it(hub: LocalCluster, tmp_path: Path) -> None:
    hub.create(member("member1"))
    create(hub, plotter("app", clusters=("member1",)))
    with running(hub, tmp_path) as settle:
        settle()
        wanted = git("--git-dir", str(repo(tmp_path)), "rev-parse", "main:clusters")
        work = tmp_path / "clone"
        git("clone", "--quiet", str(repo(tmp_path)), str(work))
        blueprint = next((work / "clusters" / "member1" / "blueprints").glob("*.yaml"))
        blueprint.write_text(blueprint.read_text().replace("member1", "elsewhere"))
        (work / "clusters" / "member1" / "blueprints" / "mine.yaml").write_text("kind: Blueprint\n")
        git("-C", str(work), "add", "-A")
        git("-C", str(work), "-c", "user.name=someone", "-c", "user.email=s@example.org", "commit", "-qm", "by hand")
        edited = time.monotonic()
        git("-C", str(work), "push", "--quiet", "origin", "HEAD:main")
        # Nothing on the hub changes: only the branch watch can notice (every 2 s by default).
        deadline = edited + 30
        while git("--git-dir", str(repo(tmp_path)), "rev-parse", "main:clusters") != wanted:
            assert time.monotonic() < deadline, "the hand edit was not undone"
            time.sleep(0.1)
    assert "changed outside m4d" in git("--git-dir", str(repo(tmp_path)), "log", "-1", "--format=%B", "main")
