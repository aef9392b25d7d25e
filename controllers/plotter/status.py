"""Decide the Plotter's status from what the write did. Pure: the I/O is in the controller.

Each cluster's `committedRevision` is the commit at which its Blueprint last became what the Plotter
wants; it only moves when that Blueprint changes, so a commit for another application does not send
this one back to WaitApplied. The aggregator (which reads the members' reports) owns `phase` once it
has seen a revision applied, and `ready`, `readyClusters` and `endpoints`: this controller keeps them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from m4d.api.meta import Condition, set_condition
from m4d.api.plotter import ClusterState, Plotter, PlotterStatus, ReviewStatus
from m4d.generator.review import Review
from m4d.generator.writer import WriteResult

COMMITTED = "Committed"
AWAITING_REVIEW = "AwaitingReview"
REVIEW_REJECTED = "ReviewRejected"

# (revision, {path: content}) -> does `revision` still hold exactly this content on the branch?
StillThere = Callable[[str, Mapping[str, bytes | None]], bool]


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
        digest = digests.get(cluster)
        unchanged = old is not None and (old.committed_revision, old.blueprint, old.spec_hash) == (
            revision,
            _name(path),
            digest,
        )
        if old is not None and unchanged:
            clusters[cluster] = old  # the aggregator's view of an unchanged Blueprint stands
        else:
            clusters[cluster] = ClusterState(
                blueprint=_name(path),
                spec_hash=digest,
                committed_revision=revision,
                applied_revision=old.applied_revision if old else None,
                phase="WaitApplied",
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
    ready = sum(1 for c in clusters.values() if c.phase == "Ready")
    return current.model_copy(
        update={
            "committed_revision": overall,
            "clusters": clusters,
            "conditions": set_condition(current.conditions, condition),
            # A Blueprint sent back to WaitApplied makes the plan not ready until the aggregator sees it applied.
            "ready": current.ready and ready == len(clusters),
            "ready_clusters": f"{ready}/{len(clusters)}",
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
