"""Decide the Plotter's status from what the write did. Pure: the I/O is in the controller.

Each cluster's `committedRevision` is the commit at which its Blueprint last became what the Plotter
wants; it only moves when that Blueprint changes, so a commit for another application does not send
this one back to WaitApplied.

One owner per field: this controller writes what was committed (`committed`): the conditions,
observedGeneration, committedRevision, and per cluster the set of clusters, Blueprint names, digests
and committed revisions. The aggregator (which reads the members' reports) owns the rest: per cluster
appliedRevision, observedGeneration, phase and message, and the Plotter's ready, readyClusters and
endpoints. A changed digest is what tells the aggregator a cluster waits for a new Blueprint.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from m4d.api.meta import Condition, set_condition
from m4d.api.plotter import ClusterState, Plotter, PlotterStatus, ReviewStatus
from m4d.generator.review import Review
from m4d.gitops.writer import WriteResult

COMMITTED = "Committed"
AWAITING_REVIEW = "AwaitingReview"
REVIEW_REJECTED = "ReviewRejected"

# (revision, {path: content}) -> does `revision` still hold exactly this content on the branch?
StillThere = Callable[[str, Mapping[str, bytes | None]], bool]


Check = tuple[str, tuple[tuple[str, bytes | None], ...]]  # (revision, ((path, content), ...))


def check_key(revision: str, files: Mapping[str, bytes | None]) -> Check:
    return (revision, tuple(sorted(files.items())))


def repository_checks(
    plotter: Plotter, own: Mapping[str, bytes | None], placed: Mapping[str, str], result: WriteResult
) -> list[Check]:
    """The questions `committed_status` asks about the repository for this write (pure): the controller
    answers them first (`StillThere` is then a lookup), so deciding the status does no I/O."""
    if result.review is not None:
        return []
    current = plotter.status or PlotterStatus()
    out: list[Check] = []
    for cluster, path in sorted(placed.items()):
        old = current.clusters.get(cluster)
        revision = old.committed_revision if old else None
        fresh = result.commit is not None and result.revision == result.commit and path in result.changed
        if not fresh and revision is not None and revision != result.revision:
            out.append(check_key(revision, {path: own[path]}))
    committed_now = result.commit is not None and result.revision == result.commit and bool(result.changed & set(own))
    previous = current.committed_revision
    if not committed_now and previous is not None and previous != result.revision:
        out.append(check_key(previous, own))
    return list(dict.fromkeys(out))


def answered(answers: Mapping[Check, bool]) -> StillThere:
    """`StillThere` from answers gathered beforehand (`repository_checks`)."""
    return lambda revision, files: answers[check_key(revision, files)]


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1].removesuffix(".yaml")


def _revision(path: str, content: bytes | None, old: str | None, result: WriteResult, still: StillThere) -> str | None:
    if result.commit is not None and result.revision == result.commit and path in result.changed:
        return result.commit
    if old is not None and (old == result.revision or still(old, {path: content})):
        return old
    return result.revision


def committed_status(
    plotter: Plotter,
    own: Mapping[str, bytes | None],
    placed: Mapping[str, str],
    result: WriteResult,
    still: StillThere,
    digests: Mapping[str, str] | None = None,
) -> PlotterStatus:
    """The status after a write. `own`: the Plotter's files in the change (path → content, None where
    it must not be); `placed`: {cluster: path} of its Blueprints; `digests`: {cluster: spec digest}
    of those Blueprints (what the aggregator matches agents' reports against)."""
    digests = digests or {}
    current = plotter.status or PlotterStatus()
    generation = plotter.metadata.generation
    if result.review is not None:
        return _in_review(current, placed, digests, result.review, generation)

    clusters = {}
    for cluster, path in sorted(placed.items()):
        old = current.clusters.get(cluster)
        revision = _revision(path, own[path], old.committed_revision if old else None, result, still)
        state = old or ClusterState(blueprint=_name(path), phase="WaitApplied")
        clusters[cluster] = state.model_copy(
            update={"blueprint": _name(path), "spec_hash": digests.get(cluster), "committed_revision": revision}
        )
    committed_now = result.commit is not None and result.revision == result.commit and bool(result.changed & set(own))
    previous = current.committed_revision
    if committed_now:
        overall = result.commit
    elif previous is not None and (previous == result.revision or still(previous, own)):
        overall = previous
    else:
        overall = result.revision
    count = len(clusters)
    condition = Condition(
        type=COMMITTED,
        status="True",
        reason="Committed",
        message=(
            f"Blueprints for {count} cluster{'s' if count != 1 else ''} are in revision {overall[:12]}"
            if overall
            else "the plan places nothing on any cluster"
        ),
        observed_generation=generation,
    )
    return current.model_copy(
        update={
            "committed_revision": overall,
            "clusters": clusters,
            "conditions": set_condition(current.conditions, condition),
            "review": None,
        }
    )


def _in_review(
    current: PlotterStatus,
    placed: Mapping[str, str],
    digests: Mapping[str, str],
    review: Review,
    generation: int | None,
) -> PlotterStatus:
    """Waiting in a pull request: the committed state (what the members run) stays as it is."""
    clusters = dict(current.clusters)
    for cluster, path in placed.items():
        clusters.setdefault(cluster, ClusterState(blueprint=_name(path), spec_hash=digests.get(cluster)))
    where = review.url or f"branch {review.branch}"
    if review.state == "rejected":
        reason = REVIEW_REJECTED
        message = (
            f"pull request {where} was closed without merging: this plan is not proposed again; "
            "it is when the plan changes (or reopen and merge the pull request)"
        )
    else:
        reason = AWAITING_REVIEW
        message = f"changes wait for review in pull request {where} (branch {review.branch}); merge to deliver"
    condition = Condition(
        type=COMMITTED, status="False", reason=reason, message=message, observed_generation=generation
    )
    state = ReviewStatus(
        state="Rejected" if review.state == "rejected" else "Open",
        url=review.url,
        branch=review.branch,
        number=review.number or None,
        commit=review.commit,
    )
    return current.model_copy(
        update={"clusters": clusters, "conditions": set_condition(current.conditions, condition), "review": state}
    )


COMMITTED_CLUSTER_FIELDS = ("blueprint", "spec_hash", "committed_revision")
COMMITTED_FIELDS = ("observed_generation", "conditions", "committed_revision", "review")


def committed(stored: PlotterStatus | None, decided: PlotterStatus) -> PlotterStatus:
    """`stored` with the fields this controller owns taken from `decided`, and nothing else."""
    base = stored or PlotterStatus()
    clusters = {}
    for name, state in decided.clusters.items():
        known = base.clusters.get(name)
        mine = {f: getattr(state, f) for f in COMMITTED_CLUSTER_FIELDS}
        clusters[name] = known.model_copy(update=mine) if known is not None else state
    return base.model_copy(update={"clusters": clusters, **{f: getattr(decided, f) for f in COMMITTED_FIELDS}})
