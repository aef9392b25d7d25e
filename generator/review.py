"""Review mode: each subject's change waits in one pull request, kept current, until it is merged.

A subject (a Plotter, the cluster registrations, a full sync) has at most one live review branch,
`m4d/review/<subject>-<hash>/<id>`, named after the change that opened it; its head commit names the
change it holds now (trailer `M4D-Change`). `plan_review` decides, from what the remote and the Git
host say, what the writer does next. Pure: the writer does the I/O.

- a newer plan force-pushes the same branch and refreshes the description: one pull request per subject;
- a plan back to what the target holds closes the pull request (with a comment) and deletes the branch;
- a pull request closed without merge is rejected: the same change is not proposed again, and the
  branch stays as the marker of that decision; a different change opens a new pull request;
- a merged pull request leaves nothing to do: the target holds the change, the branch is deleted.

Opening the pull request is the pluggable `GitHost` (`m4d.git.host`): a Git host's API, or
`DescriptionFiles` (`m4d.git.host.files`), the embedded default, which writes each description to a
Markdown file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from m4d.generator.naming import short_hash, slug
from m4d.git.host import PullRequest

REVIEW_PREFIX = "m4d/review/"
TRAILER_CHANGE = "M4D-Change"
_CHANGE = re.compile(rf"^{TRAILER_CHANGE}: ([0-9a-f]+)\s*$", re.MULTILINE)

ReviewState = Literal["open", "rejected"]


@dataclass(frozen=True)
class Review:
    """Where a change waiting for review stands: `open` (awaiting a reviewer) or `rejected` (its pull
    request was closed without merge; not proposed again until the plan changes)."""

    branch: str
    target: str
    state: ReviewState
    commit: str | None
    url: str | None = None
    number: int | None = None
    title: str = ""


def subject_prefix(subject: str) -> str:
    """Branches of one subject (a Plotter, or the cluster registrations) share this prefix, so a newer
    change for the same subject updates the same pull request."""
    return f"{REVIEW_PREFIX}{slug(subject)[:40] or 'change'}-{short_hash(subject, length=6)}/"


def review_branch(subject: str, change_id: str) -> str:
    return f"{subject_prefix(subject)}{change_id[:12]}"


def change_of(message: str) -> str | None:
    """The change a review commit holds, from its trailer."""
    found = _CHANGE.findall(message)
    return found[-1] if found else None


@dataclass(frozen=True)
class Live:
    """A review branch of the subject as found: its head's change, whether that commit still sits on
    the target's history (so its diff is still the change), and its pull request if any."""

    branch: str
    change_id: str | None
    current: bool
    pull: PullRequest | None


Action = Literal["nothing", "withdraw", "retire", "keep", "push", "rejected"]


@dataclass(frozen=True)
class ReviewPlan:
    """`action` on `branch`: withdraw (close its open pull request, delete it), retire (delete it), keep
    (it holds the change: open or refresh the pull request), push (commit the change onto it, then open
    or refresh), rejected (leave it: the change was turned down). `retire` lists other branches to delete
    first (their pull requests closed)."""

    action: Action
    branch: str | None = None
    retire: tuple[Live, ...] = ()


def plan_review(subject: str, change_id: str | None, live: list[Live]) -> ReviewPlan:
    """What to do for `subject` whose change is `change_id` (None: the target already holds the plan)."""
    ordered = sorted(live, key=_rank)
    if change_id is None:
        if not ordered:
            return ReviewPlan("nothing")
        first, rest = ordered[0], tuple(ordered[1:])
        action: Action = "withdraw" if first.pull is not None and first.pull.state == "open" else "retire"
        return ReviewPlan(action, first.branch, rest)
    if not ordered:
        return ReviewPlan("push", review_branch(subject, change_id))
    first, rest = ordered[0], tuple(ordered[1:])
    pull = first.pull
    same = first.change_id == change_id
    if pull is None or pull.state == "open":
        return ReviewPlan("keep" if same and first.current else "push", first.branch, rest)
    if pull.state == "closed" and same:
        return ReviewPlan("rejected", first.branch, rest)
    # Merged (the target moved again since) or rejected for another plan: a new pull request, on a
    # branch its predecessor never used, so the host never confuses the two.
    branch = review_branch(subject, change_id)
    if any(branch == other.branch for other in ordered):
        branch = review_branch(subject, short_hash(change_id, first.branch, length=12))
    return ReviewPlan("push", branch, tuple(ordered))


def _rank(live: Live) -> tuple[int, str]:
    """An open pull request first, then a branch without one, a rejected, a merged one."""
    state = live.pull.state if live.pull is not None else None
    order = {"open": 0, None: 1, "closed": 2, "merged": 3}[state]
    return order, live.branch
