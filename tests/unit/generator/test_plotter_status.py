"""The Plotter controller's status decision (controllers/plotter/status.py), a pure function."""

from __future__ import annotations

from collections.abc import Mapping

from m4d.api.meta import find_condition
from m4d.api.plotter import ClusterState, PlotterStatus
from m4d.controllers.plotter.status import Check, answered, check_key, committed_status, repository_checks
from m4d.generator.review import Review
from m4d.gitops.writer import WriteResult
from tests.unit.generator.plans import plotter

P1 = "clusters/m1/blueprints/default-app-x.yaml"
P2 = "clusters/m2/blueprints/default-app-x.yaml"


def never(revision: str, files: Mapping[str, bytes | None]) -> bool:
    return False


def always(revision: str, files: Mapping[str, bytes | None]) -> bool:
    return True


def test_a_commit_sets_the_revision_of_the_changed_clusters_only() -> None:
    p = plotter()
    p.status = PlotterStatus(
        committed_revision="old",
        clusters={"m1": ClusterState(blueprint="default-app-x", committed_revision="old", phase="Ready")},
        ready=True,
    )
    result = WriteResult(revision="new", commit="new", changed=frozenset({P2}))
    p.status.clusters["m1"] = p.status.clusters["m1"].model_copy(update={"spec_hash": "d1"})
    digests = {"m1": "d1", "m2": "d2"}
    status = committed_status(p, {P1: b"a", P2: b"b"}, {"m1": P1, "m2": P2}, result, always, digests)
    assert status.clusters["m2"].spec_hash == "d2" and status.clusters["m1"].spec_hash == "d1"
    assert status.clusters["m1"].committed_revision == "old" and status.clusters["m1"].phase == "Ready"
    assert status.clusters["m2"].committed_revision == "new" and status.clusters["m2"].phase == "WaitApplied"
    assert status.committed_revision == "new"
    # Readiness is the aggregator's to change (it sees m2 wait for its new Blueprint's report).
    assert status.ready is True and status.ready_clusters is None


def test_nothing_changed_keeps_a_revision_that_still_holds() -> None:
    p = plotter()
    p.status = PlotterStatus(
        committed_revision="old",
        clusters={"m1": ClusterState(blueprint="default-app-x", committed_revision="old", phase="Ready")},
    )
    result = WriteResult(revision="head")
    kept = committed_status(p, {P1: b"a"}, {"m1": P1}, result, always)
    assert kept.committed_revision == "old" and kept.clusters["m1"].phase == "Ready"
    # Content differs at the old revision (e.g. a hand edit was undone in a sync): the head holds it.
    moved = committed_status(p, {P1: b"a"}, {"m1": P1}, result, never)
    assert moved.committed_revision == "head" and moved.clusters["m1"].committed_revision == "head"
    committed = find_condition(moved.conditions, "Committed")
    assert committed is not None and committed.status == "True" and "head" in committed.message


def test_awaiting_review_keeps_the_committed_state() -> None:
    p = plotter()
    p.status = PlotterStatus(committed_revision="old")
    request = Review("m4d/review/x/1", "main", "open", "c1", url="https://git/pulls/3", number=3)
    status = committed_status(p, {P1: b"a"}, {"m1": P1}, WriteResult(revision=None, commit="c1", review=request), never)
    assert status.committed_revision == "old"
    assert status.clusters["m1"].phase == "Pending" and status.clusters["m1"].committed_revision is None
    committed = find_condition(status.conditions, "Committed")
    assert committed is not None and committed.reason == "AwaitingReview" and "m4d/review/x/1" in committed.message
    assert "https://git/pulls/3" in committed.message
    assert status.review is not None and (status.review.state, status.review.url) == ("Open", "https://git/pulls/3")


def test_a_rejected_pull_request_is_named_and_merge_clears_the_review() -> None:
    p = plotter()
    p.status = PlotterStatus(committed_revision="old")
    request = Review("m4d/review/x/1", "main", "rejected", "c1", url="https://git/pulls/3", number=3)
    status = committed_status(p, {P1: b"a"}, {"m1": P1}, WriteResult(revision=None, commit="c1", review=request), never)
    committed = find_condition(status.conditions, "Committed")
    assert committed is not None and committed.reason == "ReviewRejected" and committed.status == "False"
    assert "https://git/pulls/3" in committed.message and "closed without merging" in committed.message
    assert status.review is not None and status.review.state == "Rejected"
    # Merged later (reopened by a person): the branch holds it, the review is over.
    p.status = status
    merged = committed_status(p, {P1: b"a"}, {"m1": P1}, WriteResult(revision="m", commit=None), always)
    committed = find_condition(merged.conditions, "Committed")
    assert committed is not None and committed.reason == "Committed" and merged.review is None


def test_the_repository_questions_are_known_before_deciding() -> None:
    """`repository_checks` lists exactly what `committed_status` asks, so the controller observes first
    and the decision is a lookup: for a commit, a no-op write, and a write of another Plotter's files."""
    p = plotter()
    p.status = PlotterStatus(
        committed_revision="old",
        clusters={
            "m1": ClusterState(blueprint="default-app-x", committed_revision="old"),
            "m2": ClusterState(blueprint="default-app-x", committed_revision="older"),
        },
    )
    own, placed = {P1: b"a", P2: b"b"}, {"m1": P1, "m2": P2}
    results = [
        WriteResult(revision="new", commit="new", changed=frozenset({P2})),
        WriteResult(revision="head"),
        WriteResult(revision="new", commit="new", changed=frozenset({"clusters/m1/blueprints/other.yaml"})),
        WriteResult(revision="old"),
    ]
    for result in results:
        for answer in (True, False):
            asked: list[Check] = []

            def still(
                revision: str, files: Mapping[str, bytes | None], answer: bool = answer, asked: list[Check] = asked
            ) -> bool:
                asked.append(check_key(revision, files))
                return answer

            decided = committed_status(p, own, placed, result, still)
            known = repository_checks(p, own, placed, result)
            assert set(asked) == set(known), result
            answers = dict.fromkeys(known, answer)
            assert committed_status(p, own, placed, result, answered(answers)) == decided
    assert repository_checks(p, own, placed, WriteResult(revision="new", commit="new", changed=frozenset(own))) == []
