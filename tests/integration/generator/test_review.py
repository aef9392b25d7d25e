"""Review mode with the embedded default host (description files): one branch per subject, kept current;
the target moves only by a merge. The same lifecycle on a real Gitea: tests/integration/git/test_review_gitea.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from m4d.generator.changes import full_change, plotter_change
from m4d.generator.config import RenderConfig
from m4d.git import Mirror, Remote
from m4d.git.host.files import DescriptionFiles
from m4d.gitops.writer import GitOpsWriter
from tests.integration.generator.gitservers import git
from tests.unit.generator.plans import members, plotter

pytestmark = pytest.mark.integration

CONFIG = RenderConfig("https://git.example/m4d.git")


def branches(bare: Path) -> dict[str, str]:
    out = git("--git-dir", str(bare), "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads")
    return dict(line.split(" ") for line in out.splitlines())


def test_review_branch_lifecycle(tmp_path: Path, bare: Path, daemon_url: str) -> None:
    clusters = members(2)
    direct = GitOpsWriter(Mirror(tmp_path / "direct", Remote.parse(daemon_url)))
    seeded = direct.write(full_change([plotter("app")], clusters, CONFIG)[0]).commit
    direct.close()
    descriptions = tmp_path / "reviews"
    writer = GitOpsWriter(
        Mirror(tmp_path / "cache", Remote.parse(daemon_url)), mode="review", reviews=DescriptionFiles(descriptions)
    )

    first = writer.write(plotter_change(plotter("app", redact=("ssn", "email"), generation=2), clusters, CONFIG))
    assert first.revision is None and first.review is not None and first.commit is not None
    branch = first.review.branch
    assert branch.startswith("m4d/review/default-app-")
    heads = branches(bare)
    assert heads["main"] == seeded  # the target only moves by a merge
    assert heads[branch] == first.commit
    assert git("--git-dir", str(bare), "rev-parse", f"{first.commit}^").strip() == seeded
    (description,) = descriptions.iterdir()
    text = description.read_text()
    assert text.startswith("# Update default/app on member1\n")
    assert "`default-app-" in text and "Plotter `default/app`, generation 2" in text
    assert first.review.url == description.as_uri() and first.review.state == "open"
    message = git("--git-dir", str(bare), "log", "-1", "--format=%B", first.commit)
    assert "M4D-Plotter-Generation: 2\n" in message and "\nM4D-Change: " in message

    again = writer.write(plotter_change(plotter("app", redact=("ssn", "email"), generation=2), clusters, CONFIG))
    assert again.commit == first.commit and again.review is not None and again.review.branch == branch

    newer = writer.write(plotter_change(plotter("app", redact=("phone",), generation=3), clusters, CONFIG))
    assert newer.review is not None and newer.review.branch == branch  # the same pull request, kept current
    assert branches(bare)[branch] == newer.commit != first.commit  # force-pushed
    assert [p.name for p in descriptions.iterdir()] == [Path(newer.review.url or "").name]
    assert "generation 3" in (descriptions / Path(newer.review.url or "").name).read_text()

    # A reviewer merges the pull request.
    clone = tmp_path / "clone"
    git("clone", "-q", str(bare), str(clone))
    git("merge", "-q", "--ff-only", f"origin/{newer.review.branch}", cwd=clone)
    git("push", "-q", "origin", "main", cwd=clone)
    merged = writer.write(plotter_change(plotter("app", redact=("phone",), generation=3), clusters, CONFIG))
    assert merged.review is None and merged.commit is None
    assert merged.revision == branches(bare)["main"] == newer.commit
    assert set(branches(bare)) == {"main"}
    assert list(descriptions.iterdir()) == []
    writer.close()


def test_the_target_moving_elsewhere_leaves_the_review_branch_alone(tmp_path: Path, bare: Path) -> None:
    clusters = members(1)
    direct = GitOpsWriter(Mirror(tmp_path / "direct", Remote.parse(str(bare))))
    direct.write(full_change([plotter("a"), plotter("b")], clusters, CONFIG)[0])
    review = GitOpsWriter(
        Mirror(tmp_path / "cache", Remote.parse(str(bare))), mode="review", reviews=DescriptionFiles(tmp_path / "r")
    )
    change = plotter_change(plotter("a", generation=2, redact=("x",)), clusters, CONFIG)
    first = review.write(change)
    moved = direct.write(plotter_change(plotter("b", generation=2, redact=("y",)), clusters, CONFIG)).commit
    second = review.write(change)
    assert second.review is not None and first.review is not None
    assert second.review.branch == first.review.branch  # the same change keeps its branch and commit:
    assert second.commit == first.commit  # no force-push for every merge elsewhere
    assert git("--git-dir", str(bare), "merge-base", "--is-ancestor", f"{second.commit}^", moved or "") == ""
    direct.close()
    review.close()
