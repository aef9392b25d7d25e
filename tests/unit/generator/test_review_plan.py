"""The review lifecycle decision (generator/review.py: plan_review), a pure function."""

from __future__ import annotations

from m4d.generator.review import Live, change_of, plan_review, review_branch
from m4d.git.host import PullRequest, PullState

SUBJECT = "default/app"
OLD, NEW = "a" * 64, "b" * 64


def live(change: str | None, state: PullState | None, branch: str | None = None, current: bool = True) -> Live:
    name = branch or review_branch(SUBJECT, OLD)
    pull = PullRequest(7, "http://git/pulls/7", state, name, "main") if state else None
    return Live(name, change, current, pull)


def test_first_change_opens_a_branch_named_after_it() -> None:
    plan = plan_review(SUBJECT, NEW, [])
    assert plan.action == "push" and plan.branch == review_branch(SUBJECT, NEW)


def test_the_same_change_keeps_its_pull_request() -> None:
    plan = plan_review(SUBJECT, OLD, [live(OLD, "open")])
    assert plan.action == "keep" and plan.branch == review_branch(SUBJECT, OLD)
    # Pushed but the pull request was never opened (a crash in between): keep the commit, open it.
    assert plan_review(SUBJECT, OLD, [live(OLD, None)]).action == "keep"


def test_a_newer_plan_updates_the_same_branch_and_pull_request() -> None:
    plan = plan_review(SUBJECT, NEW, [live(OLD, "open")])
    assert plan.action == "push" and plan.branch == review_branch(SUBJECT, OLD) and plan.retire == ()
    # The same change on a base that lost its parent (history rewritten): pushed again.
    assert plan_review(SUBJECT, OLD, [live(OLD, "open", current=False)]).action == "push"


def test_a_rejected_change_is_not_proposed_again_until_the_plan_changes() -> None:
    rejected = live(OLD, "closed")
    assert plan_review(SUBJECT, OLD, [rejected]).action == "rejected"
    changed = plan_review(SUBJECT, NEW, [rejected])
    assert changed.action == "push" and changed.branch == review_branch(SUBJECT, NEW)
    assert changed.retire == (rejected,)  # the rejected branch goes; its pull request stays closed


def test_a_new_pull_request_never_reuses_a_branch_name() -> None:
    # Rejected while it held NEW, on the branch named after OLD; the plan goes back to OLD.
    rejected = live(NEW, "closed")
    plan = plan_review(SUBJECT, OLD, [rejected])
    assert plan.action == "push" and plan.branch != rejected.branch
    assert plan.branch is not None and plan.branch.startswith("m4d/review/default-app-")


def test_plan_back_to_the_target_withdraws_or_retires() -> None:
    assert plan_review(SUBJECT, None, []).action == "nothing"
    assert plan_review(SUBJECT, None, [live(OLD, "open")]).action == "withdraw"
    assert plan_review(SUBJECT, None, [live(OLD, "merged")]).action == "retire"
    assert plan_review(SUBJECT, None, [live(OLD, "closed")]).action == "retire"


def test_extra_branches_are_retired_and_the_open_one_kept() -> None:
    stray = live(NEW, "closed", branch=review_branch(SUBJECT, "c" * 64))
    kept = live(OLD, "open")
    plan = plan_review(SUBJECT, OLD, [stray, kept])
    assert plan.action == "keep" and plan.branch == kept.branch and plan.retire == (stray,)


def test_change_trailer() -> None:
    assert change_of("Update x\n\nbody\n\nM4D-Plotter: a/b\nM4D-Change: abc123\n") == "abc123"
    assert change_of("Update x\n") is None
