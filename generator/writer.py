"""The Git writer: make the repository's generated folders what a `Change` says, in one commit or none.

Direct mode commits to the target branch. Review mode pushes the commit to a branch of its own
(`m4d/review/<subject>/<change id>`) and hands a pull request description to a `ReviewHost`.

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
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from m4d.errors import M4DError, TemporaryError
from m4d.generator.message import PlotterRef, compose, origin_from_content
from m4d.generator.naming import OWNED_PREFIXES, is_owned
from m4d.generator.review import PullRequest, ReviewHost, describe, review_branch, subject_prefix
from m4d.generator.tree import Origin
from m4d.git import Mirror, PushRejected, blob_sha

Mode = Literal["direct", "review"]


@dataclass(frozen=True)
class Change:
    """What the generated folders must look like after the write.

    `files`: path → content, or None for "must not exist". With `full`, every other file under the
    generated folders is removed too, except `preserve` (files of Plotters that could not be rendered
    this time, left as they are). `subject` groups review branches (a Plotter key, or "clusters").
    """

    files: Mapping[str, bytes | None]
    origins: Mapping[str, Origin] = field(default_factory=dict)
    full: bool = False
    preserve: frozenset[str] = frozenset()
    plotters: Sequence[PlotterRef] = ()
    subject: str = "sync"
    reason: str | None = None


@dataclass(frozen=True)
class WriteResult:
    """`revision`: the target branch's head, holding the change (None while it awaits review).
    `commit`: the commit made for this change (None: there was nothing to change)."""

    revision: str | None
    commit: str | None = None
    changed: frozenset[str] = frozenset()
    review: PullRequest | None = None
    attempts: int = 1
    foreign: bool = False


class GitOpsWriter:
    """Writes Changes to `branch` of the mirror's remote. Thread-safe; one write at a time."""

    def __init__(
        self,
        mirror: Mirror,
        branch: str = "main",
        mode: Mode = "direct",
        reviews: ReviewHost | None = None,
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

    # -- reading --------------------------------------------------------------------------------

    def head(self) -> str | None:
        with self._lock, self.mirror.locked():
            return self.mirror.fetch(self.branch)

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
        with self._lock, self.mirror.locked():
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

    def _write_review(self, change: Change) -> WriteResult:
        assert self.reviews is not None
        base = self.mirror.fetch(self.branch)
        edits, existing = self._edits(base, change)
        prefix = subject_prefix(change.subject)
        open_branches = self.mirror.remote_branches(prefix)
        if not edits:
            # Merged (or never needed): nothing left to review for this subject.
            self._retire(open_branches, keep=None)
            return WriteResult(revision=base)
        branch = review_branch(change.subject, _change_id(edits))
        commit = None
        if branch in open_branches:
            head = self.mirror.fetch(branch)
            if head is not None and self.mirror.parents(head) == ([base] if base else []):
                commit = head  # the same change on the same base: already pushed (e.g. before a restart)
        message = self._message(edits, existing, change)
        if commit is None:
            commit = self.mirror.commit(base, edits, message)
            self.mirror.push(commit, branch, force=True)
        title, body = describe(message, branch, self.branch, sorted(edits))
        request = PullRequest(branch, self.branch, title, body, commit)
        request = PullRequest(branch, self.branch, title, body, commit, url=self.reviews.open(request))
        self._retire(open_branches, keep=branch)
        return WriteResult(revision=None, commit=commit, changed=frozenset(edits), review=request)

    def _retire(self, branches: Mapping[str, str], keep: str | None) -> None:
        """Close and delete review branches a newer change (or the merge) made obsolete."""
        assert self.reviews is not None
        for name in sorted(branches):
            if name != keep:
                self.reviews.close(name)
                self.mirror.delete_branch(name)


def _change_id(edits: Mapping[str, bytes | None]) -> str:
    """Names a change by what it does, so the same change always lands on the same review branch."""
    digest = hashlib.sha256()
    for path in sorted(edits):
        content = edits[path]
        digest.update(f"{path}\0{blob_sha(content) if content is not None else '-'}\n".encode())
    return digest.hexdigest()
