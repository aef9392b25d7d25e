"""`m4d cluster offboard` and onboarding's order of acts, on an embedded hub (also the default relative
`.m4d`) with its bare repository."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from m4d.api.cluster import MemberCluster
from m4d.cli.main import cli
from m4d.cluster.local import LocalCluster
from tests.integration.generator.gitservers import git

pytestmark = pytest.mark.integration


def m4d(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def tree(repo: Path, ref: str = "main") -> set[str]:
    return set(git("--git-dir", str(repo), "ls-tree", "-r", "--name-only", ref).split())


def clusters(hub: Path) -> list[str]:
    store = LocalCluster(hub / "hub.db")
    try:
        return [c.name for c in store.list(MemberCluster).items]
    finally:
        store.close()


def add_by_hand(repo: Path, work: Path, path: str) -> None:
    """A file in the member's folder that no registration names (as a Blueprint would be)."""
    git("clone", "-q", str(repo), str(work))
    (work / path).parent.mkdir(parents=True, exist_ok=True)
    (work / path).write_text("kind: Blueprint\n")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "-C", str(work), "add", path)
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "-C", str(work), "commit", "-q", "-m", "by hand")
    git("-C", str(work), "push", "-q", "origin", "HEAD:main")


def test_offboard_removes_the_folder_and_the_registration_without_any_application(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    repo = hub / "gitops.git"
    for name, region in (("eu1", "eu-de"), ("eu2", "eu-fr")):
        code, out = m4d("--hub", str(hub), "cluster", "onboard", name, "-t", "plain", "--region", region)
        assert code == 0, out
    add_by_hand(repo, tmp_path / "work", "clusters/eu1/blueprints/default-nb.yaml")
    assert {
        "argocd/clusters/eu1.yaml",
        "clusters/eu1/namespace.yaml",
        "clusters/eu1/blueprints/default-nb.yaml",
    } <= tree(repo)
    project = git("--git-dir", str(repo), "show", "main:argocd/project.yaml")
    assert "m4d-eu1" in project or "eu1" in project

    code, out = m4d("--hub", str(hub), "cluster", "offboard", "eu1")
    assert code == 0, out
    assert "membercluster/eu1 deleted" in out and "removed from" in out
    files = tree(repo)
    assert not [f for f in files if f.startswith("clusters/eu1/") or f == "argocd/clusters/eu1.yaml"], files
    assert {"argocd/clusters/eu2.yaml", "clusters/eu2/namespace.yaml"} <= files  # the other member stays
    assert "eu1" not in git("--git-dir", str(repo), "show", "main:argocd/project.yaml")
    assert clusters(hub) == ["eu2"]
    assert git("--git-dir", str(repo), "log", "-1", "--format=%s", "main").strip()

    code, out = m4d("--hub", str(hub), "cluster", "offboard", "eu1")  # nothing left anywhere
    assert code != 0 and "no member cluster eu1" in out


def test_offboard_finishes_what_an_interrupted_run_left(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    code, out = m4d("--hub", str(hub), "cluster", "onboard", "eu1", "-t", "plain", "--region", "eu-de")
    assert code == 0, out
    store = LocalCluster(hub / "hub.db")
    store.delete(MemberCluster, "eu1")  # gone from the hub, still in Git (as when the Git write failed)
    store.close()
    code, out = m4d("--hub", str(hub), "cluster", "offboard", "eu1")
    assert code == 0, out
    assert "deleted" not in out and "removed from" in out
    assert not [f for f in tree(hub / "gitops.git") if "eu1" in f]


def test_review_mode_with_the_default_relative_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("M4D_HUB", raising=False)
    code, out = m4d("cluster", "onboard", "eu1", "-t", "plain", "--region", "eu-de", "--gitops-mode", "review")
    assert code == 0, out
    assert "awaits review on branch m4d/review/" in out
    url = out.split("awaits review on branch ")[1].split(": ", 1)[1].split()[0]
    assert url.startswith("file:///") and Path(url.removeprefix("file://")).is_file()
    assert clusters(tmp_path / ".m4d") == ["eu1"]
    branches = git("--git-dir", str(tmp_path / ".m4d" / "gitops.git"), "branch", "--list", "m4d/review/*")
    assert branches.strip()
    code, out = m4d("cluster", "offboard", "eu1", "--gitops-mode", "review")
    assert code == 0, out
    assert clusters(tmp_path / ".m4d") == []


def test_an_unreachable_repository_stores_no_member_cluster(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    missing = tmp_path / "no-such-repo.git"
    result = CliRunner().invoke(
        cli,
        [
            "--hub",
            str(hub),
            "cluster",
            "onboard",
            "eu1",
            "-t",
            "plain",
            "--region",
            "eu-de",
            "--gitops-repo",
            str(missing),
        ],
    )
    assert result.exit_code != 0
    assert "not a reachable Git repository" in str(result.exception)
    assert clusters(hub) == []
