"""Review mode on a real Gitea: one pull request per subject, kept current; merged, rejected, withdrawn."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from m4d.generator.change import Change
from m4d.generator.changes import full_change, plotter_change
from m4d.generator.config import RenderConfig
from m4d.git import Mirror
from m4d.git.host.gitea import GiteaHost
from m4d.gitops.writer import GitOpsWriter
from tests.integration.git.gitea_api import GiteaRepo, new_repo
from tests.testenv.gitea import Gitea
from tests.unit.generator.plans import members, plotter
from tests.unit.generator.test_pull_request import application

pytestmark = pytest.mark.integration

CONFIG = RenderConfig("https://git.example/m4d.git")


def writers(repo: GiteaRepo, tmp_path: Path) -> tuple[GitOpsWriter, GitOpsWriter]:
    direct = GitOpsWriter(Mirror(tmp_path / "direct", repo.remote()))
    host = GiteaHost(repo.server.url, repo.project, repo.server.token)
    review = GitOpsWriter(Mirror(tmp_path / "review", repo.remote()), mode="review", reviews=host)
    return direct, review


def test_one_pull_request_kept_current_then_merged(gitea: Gitea, tmp_path: Path) -> None:
    repo = new_repo(gitea)
    clusters = members(2)
    direct, review = writers(repo, tmp_path)
    direct.write(full_change([plotter("app")], clusters, CONFIG)[0])

    def change(generation: int, redact: tuple[str, ...]) -> Change:
        made = plotter_change(plotter("app", generation=generation, redact=redact), clusters, CONFIG)
        return replace(made, applications={"default/app": application()})

    first = review.write(change(2, ("ssn", "email")))
    assert first.review is not None and first.review.state == "open" and first.revision is None
    (pull,) = repo.pulls()
    assert pull["number"] == first.review.number and pull["html_url"] == first.review.url
    assert pull["title"] == "Update default/app on member1"
    assert "intent **Fraud Detection**" in pull["body"] and "| RedactColumn | ssn, email | redact-pii |" in pull["body"]
    assert f"{gitea.url}/{repo.project}/src/branch/{first.review.branch}/clusters/member1/blueprints/" in pull["body"]

    again = review.write(change(2, ("ssn", "email")))
    assert again.review is not None and (again.commit, again.review.number) == (first.commit, first.review.number)
    assert len(repo.pulls()) == 1

    newer = review.write(change(3, ("phone",)))
    assert newer.review is not None and newer.review.number == first.review.number  # no second pull request
    (pull,) = repo.pulls()
    assert pull["head"]["sha"] == newer.commit != first.commit  # the branch was force-pushed
    assert "generation 3" in pull["body"] and "RedactColumn(phone)" in pull["body"]

    repo.merge(first.review.number)
    merged = review.write(change(3, ("phone",)))
    assert merged.review is None and merged.commit is None
    assert merged.revision == direct.head()
    assert repo.branches() == ["main"]  # the review branch is gone
    direct.close()
    review.close()


def test_rejected_stays_rejected_until_the_plan_changes_and_back_to_main_withdraws(
    gitea: Gitea, tmp_path: Path
) -> None:
    repo = new_repo(gitea)
    clusters = members(1)
    direct, review = writers(repo, tmp_path)
    direct.write(full_change([plotter("app")], clusters, CONFIG)[0])

    first = review.write(plotter_change(plotter("app", generation=2, redact=("x",)), clusters, CONFIG))
    assert first.review is not None
    repo.close(first.review.number or 0)
    rejected = review.write(plotter_change(plotter("app", generation=2, redact=("x",)), clusters, CONFIG))
    assert rejected.review is not None and rejected.review.state == "rejected"
    assert rejected.review.url == first.review.url
    assert len(repo.pulls()) == 1  # not reopened, no new pull request

    changed = review.write(plotter_change(plotter("app", generation=3, redact=("y",)), clusters, CONFIG))
    assert changed.review is not None and changed.review.state == "open"
    assert changed.review.number != first.review.number
    assert first.review.branch not in repo.branches()  # the rejected plan's branch is gone

    back = review.write(plotter_change(plotter("app"), clusters, CONFIG))  # what main holds
    assert back.review is None and back.revision == direct.head()
    closed = repo.pull(changed.review.number or 0)
    assert closed["state"] == "closed" and not closed["merged"]
    assert any("already holds this plan" in c for c in repo.comments(changed.review.number or 0))
    assert repo.branches() == ["main"]
    direct.close()
    review.close()


def test_churn_keeps_one_pull_request(gitea: Gitea, tmp_path: Path) -> None:
    repo = new_repo(gitea)
    clusters = members(1)
    direct, review = writers(repo, tmp_path)
    direct.write(full_change([plotter("app")], clusters, CONFIG)[0])
    results = [
        review.write(plotter_change(plotter("app", generation=g, redact=(f"c{g}",)), clusters, CONFIG))
        for g in range(2, 10)
    ]
    numbers = {r.review.number for r in results if r.review is not None}
    (pull,) = repo.pulls()  # eight plans, one pull request
    assert numbers == {pull["number"]} and pull["head"]["sha"] == results[-1].commit
    assert "generation 9" in pull["body"] and "RedactColumn(c9)" in pull["body"]
    assert repo.comments(pull["number"]) == []  # and no comment per update either
    direct.close()
    review.close()
