"""What the review writer asks of a Git host, whatever the provider."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

PullState = Literal["open", "merged", "closed"]


@dataclass(frozen=True)
class PullRequestDraft:
    """A pull request as the platform wants it: from `branch` into `target`."""

    branch: str
    target: str
    title: str
    body: str


@dataclass(frozen=True)
class PullRequest:
    """A pull request as the host has it. `closed` means closed without being merged."""

    number: int
    url: str
    state: PullState
    branch: str
    target: str
    title: str = ""
    body: str = ""


class GitHost(ABC):
    """One repository on a Git host. Every method raises the project's errors only: TemporaryError when
    the host is unreachable or failing, UnauthorizedError/ForbiddenError for a refused token,
    NotFoundError for a missing repository, PermanentError for a request the host rejects."""

    #: Where a human sees the repository (for messages and links).
    web_url: str = ""

    @abstractmethod
    def find_pull(self, branch: str, target: str) -> PullRequest | None:
        """The pull request from `branch` into `target` in any state, or None. The platform opens at most
        one per branch name, so this is the one it opened."""

    @abstractmethod
    def open_pull(self, draft: PullRequestDraft) -> PullRequest:
        """Open a pull request for `draft.branch` (the branch must exist on the host)."""

    @abstractmethod
    def update_pull(self, pull: PullRequest, title: str, body: str) -> PullRequest:
        """Replace the title and description of an open pull request."""

    @abstractmethod
    def comment(self, pull: PullRequest, text: str) -> None:
        """Add a comment to the pull request's conversation."""

    @abstractmethod
    def close_pull(self, pull: PullRequest) -> PullRequest:
        """Close the pull request without merging it."""

    @abstractmethod
    def file_url(self, branch: str, path: str) -> str | None:
        """Where a reviewer reads `path` as it is on `branch`."""

    def close(self) -> None:
        """Release connections."""
