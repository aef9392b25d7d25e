"""The Git writer: make the repository's generated folders what a `Change` says, in one commit or none.

Direct mode commits to the target branch. Review mode pushes the commit to its subject's review branch
and opens or refreshes that branch's pull request on a `GitHost` (see review.py for the lifecycle).

Every write starts from the remote's current head (fetched), so a reconcile compares with the truth:
the same desired state twice gives one commit, then none (restart-safe: a retry after a crash, before
or after the push, finds either nothing pushed and commits once, or everything there and commits
nothing). A push is a compare-and-swap; when another writer got there first (non-fast-forward) the
change is recomputed on top of the new head and pushed again, a few times, then reported as a
TemporaryError. One writer per branch is the expected deployment; the retry only makes a second one
(an onboarding command beside the hub) safe, not fast.
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from m4d.errors import M4DError, TemporaryError
from m4d.generator.change import Change
from m4d.generator.message import compose, origin_from_content
from m4d.generator.naming import OWNED_PREFIXES, is_owned
from m4d.generator.pull_request import describe
from m4d.generator.review import TRAILER_CHANGE, Live, Review, change_of, plan_review, subject_prefix
from m4d.generator.tree import Origin
from m4d.git import Mirror, PushRejected, blob_sha
from m4d.git.host import GitHost, PullRequestDraft

Mode = Literal["direct", "review"]


@dataclass(frozen=True)
class WriteResult:
    """`revision`: the target branch's head, holding the change (None while it awaits review).
    `commit`: the commit made for this change (None: there was nothing to change)."""

    revision: str | None
    commit: str | None = None
    changed: frozenset[str] = frozenset()
    review: Review | None = None
    attempts: int = 1
    foreign: bool = False


class GitOpsWriter:
    """Writes Changes to `branch` of the mirror's remote. Thread-safe; one write at a time."""

    def __init__(
        self,
        mirror: Mirror,
        branch: str = "main",
        mode: Mode = "direct",
        reviews: GitHost | None = None,
        attempts: int = 8,
    ) -> None:
        if mode == "review" and reviews is None:
            raise ValueError("review mode needs a ReviewHost")
        self.mirror = mirror
        self.branch = branch
        self.mode: Mode = mode
        self.reviews = reviews
        self.attempts = attempts
        self._lock = threading.Lock()
        self._last_seen: str | None = None

    def close(self) -> None:
        self.mirror.close()
        if self.reviews is not None:
            self.reviews.close()

    # -- reading --------------------------------------------------------------------------------

    def head(self) -> str | None:
        with self._lock, self.mirror.locked():
            return self.mirror.fetch(self.branch)

    def moved(self) -> str | None:
        """The branch's head if someone else moved it since this writer last read or wrote it; None if it
        did not, if this writer has not seen it yet, or while a write is in progress (it will tell)."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            if self._last_seen is None:
                return None
            head = self.mirror.remote_head(self.branch)
            return head if head != self._last_seen else None
        finally:
            self._lock.release()

    def unchanged_since(self, revision: str, files: Mapping[str, bytes | None], head: str | None) -> bool:
        """True if `files` (path → content or absence) read the same at `revision` as wanted, and
        `revision` is on the branch up to `head`: the revision a status may keep naming."""
        with self._lock:
            if head is None or (revision != head and not self._on_branch(revision, head)):
                return False
            present = self.mirror.ls_tree(revision, files)
            return all(
                present.get(path) == (blob_sha(content) if content is not None else None)
                for path, content in files.items()
            )

    def _on_branch(self, revision: str, head: str) -> bool:
        try:
            return self.mirror.is_ancestor(revision, head)
        except M4DError:  # an unknown revision (history rewritten by hand) is simply not on the branch
            return False

    # -- writing --------------------------------------------------------------------------------

    def write(self, change: Change) -> WriteResult:
        return self.write_computed(lambda: change)

    def write_computed(self, compute: Callable[[], Change]) -> WriteResult:
        """Write the change `compute` makes, computed once this writer holds the branch: a full sync is
        computed from what is true then, not from what was true before it waited for another write."""
        with self._lock, self.mirror.locked():
            change = compute()
            if self.mode == "review":
                return self._write_review(change)
            return self._write_direct(change)

    def _edits(self, base: str | None, change: Change) -> tuple[dict[str, bytes | None], dict[str, str]]:
        """(edits, existing blob shas of the paths looked at): only what really differs."""
        if change.full:
            existing = self.mirror.ls_tree(base, [p.rstrip("/") for p in OWNED_PREFIXES], recursive=True)
        else:
            existing = self.mirror.ls_tree(base, change.files)
        edits: dict[str, bytes | None] = {}
        if change.removed_folders:
            under = self.mirror.ls_tree(base, [p.rstrip("/") for p in change.removed_folders], recursive=True)
            existing = {**existing, **under}
            edits.update({path: None for path in under if path not in change.files and is_owned(path)})
        for path, content in change.files.items():
            if content is None:
                if path in existing:
                    edits[path] = None
            elif existing.get(path) != blob_sha(content):
                edits[path] = content
        if change.full:
            for path in existing:
                if path not in change.files and path not in change.preserve and is_owned(path):
                    edits[path] = None
        return edits, existing

    def _message(self, edits: Mapping[str, bytes | None], existing: Mapping[str, str], change: Change) -> str:
        def origin(path: str) -> Origin:
            known = change.origins.get(path)
            if known is not None and edits[path] is not None:
                return known
            if path in existing:
                return origin_from_content(path, self.mirror.read_blob(existing[path]))
            return known or Origin("File")

        return compose(edits, lambda p: p in existing, origin, change.plotters, change.reason)

    def _write_direct(self, change: Change) -> WriteResult:
        foreign = False
        for attempt in range(1, self.attempts + 1):
            base = self.mirror.fetch(self.branch)
            foreign = foreign or (self._last_seen is not None and base != self._last_seen)
            edits, existing = self._edits(base, change)
            if not edits:
                self._last_seen = base
                return WriteResult(revision=base, attempts=attempt, foreign=foreign)
            commit = self.mirror.commit(base, edits, self._message(edits, existing, change))
            try:
                self.mirror.push(commit, self.branch)
            except PushRejected:
                foreign = True
                # Full jitter, growing: writers that collided spread out instead of colliding again.
                time.sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))  # noqa: S311 - jitter, not security
                continue
            self._last_seen = commit
            return WriteResult(commit, commit, frozenset(edits), attempts=attempt, foreign=foreign)
        raise TemporaryError(
            f"{self.branch} at {self.mirror.remote} kept moving: {self.attempts} pushes rejected in a row; "
            "is another writer committing to this branch?",
            reason="PushRejected",
        )

    def _write_review(self, change: Change, refetched: bool = False) -> WriteResult:
        assert self.reviews is not None
        base = self.mirror.fetch(self.branch)
        edits, existing = self._edits(base, change)
        change_id = _change_id(edits) if edits else None
        prefix = subject_prefix(change.subject)
        live = [self._live(name, sha, base) for name, sha in sorted(self.mirror.remote_branches(prefix).items())]
        plan = plan_review(change.subject, change_id, live)
        if plan.action == "push" and not refetched and any(x.pull and x.pull.state == "merged" for x in live):
            # Merged since the target was fetched? Read it again before proposing anything new.
            return self._write_review(change, refetched=True)
        for old in plan.retire:
            self._retire(old, SUPERSEDED)
        chosen = next((x for x in live if x.branch == plan.branch), None)
        if plan.action == "nothing":
            return WriteResult(revision=base)
        if plan.action in ("withdraw", "retire"):
            assert chosen is not None
            self._retire(chosen, WITHDRAWN.format(target=self.branch))
            return WriteResult(revision=base)
        assert plan.branch is not None
        if plan.action == "rejected":
            assert chosen is not None and chosen.pull is not None
            closed = chosen.pull
            head = self.mirror.known_head(chosen.branch)
            review = Review(chosen.branch, self.branch, "rejected", head, closed.url, closed.number, closed.title)
            return WriteResult(revision=None, commit=head, changed=frozenset(edits), review=review)
        message = self._message(edits, existing, change)
        if plan.action == "keep":
            commit = self.mirror.known_head(plan.branch)
            assert commit is not None
        else:
            commit = self.mirror.commit(base, edits, _with_change(message, change_id or ""))
            self.mirror.push(commit, plan.branch, force=True)
        title = message.partition("\n")[0]
        before = {p: self.mirror.read_blob(existing[p]) for p in edits if p in existing}
        body = describe(
            title, edits, before, change.applications, change.plotters, plan.branch, self.branch, self.reviews.file_url
        )
        pull = chosen.pull if chosen is not None else None
        if pull is None or pull.state != "open":
            pull = self.reviews.open_pull(PullRequestDraft(plan.branch, self.branch, title, body))
        elif (pull.title, pull.body.strip()) != (title, body.strip()):
            pull = self.reviews.update_pull(pull, title, body)
        review = Review(plan.branch, self.branch, "open", commit, pull.url, pull.number, title)
        return WriteResult(revision=None, commit=commit, changed=frozenset(edits), review=review)

    def _live(self, branch: str, sha: str, base: str | None) -> Live:
        assert self.reviews is not None
        # The branch as the remote listed it; fetched only when it is not what we pushed or fetched last.
        head = sha if self.mirror.known_head(branch) == sha else self.mirror.fetch(branch)
        change_id = current = None
        if head is not None:
            change_id = change_of(self.mirror.commit_message(head))
            parents = self.mirror.parents(head)
            current = parents == ([base] if base else []) or (
                base is not None and len(parents) == 1 and self._on_branch(parents[0], base)
            )
        return Live(branch, change_id, bool(current), self.reviews.find_pull(branch, self.branch))

    def _retire(self, live: Live, reason: str) -> None:
        """Close the branch's open pull request (saying why) and delete the branch."""
        assert self.reviews is not None
        if live.pull is not None and live.pull.state == "open":
            self.reviews.comment(live.pull, reason)
            self.reviews.close_pull(live.pull)
        self.mirror.delete_branch(live.branch)


SUPERSEDED = "Closed by Mesh for Data: a newer pull request for the same plan replaces this one."
WITHDRAWN = "Closed by Mesh for Data: `{target}` already holds this plan, so there is nothing left to review."


def _with_change(message: str, change_id: str) -> str:
    """The commit message with the change it holds as the last trailer."""
    body = message.rstrip("\n")
    last = body.rsplit("\n\n", 1)[-1]
    trailers = all(re.match(r"^[A-Za-z0-9-]+: ", line) for line in last.splitlines())
    return f"{body}{chr(10) if trailers else chr(10) * 2}{TRAILER_CHANGE}: {change_id}\n"


def _change_id(edits: Mapping[str, bytes | None]) -> str:
    """Names a change by what it does, so the same change always lands on the same review branch."""
    digest = hashlib.sha256()
    for path in sorted(edits):
        content = edits[path]
        digest.update(f"{path}\0{blob_sha(content) if content is not None else '-'}\n".encode())
    return digest.hexdigest()
