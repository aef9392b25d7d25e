"""The Git host's push webhook, for a repository served by `git daemon` (which sends none).

On a push, a Git host calls argocd-server's /api/webhook, which sets the `argocd.argoproj.io/refresh`
annotation on every Application whose source is that repository and branch; the controller then
compares with the new head at once instead of at its next periodic refresh (3 minutes by default).
`GitWebhook` does the same from the test side: it watches the branch in the bare repository and
annotates the matching Applications when the branch moves.
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

from m4d.errors import M4DError
from tests.testenv.argocd import ArgoCD

POLL_SECONDS = 0.05


def branch_head(repo: Path, branch: str) -> str | None:
    done = subprocess.run(
        ["git", "--git-dir", str(repo), "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or None


class GitWebhook:
    """Refreshes the Applications of `url`/`branch` each time `repo`'s branch moves (until `stop()`)."""

    def __init__(self, argocd: ArgoCD, repo: Path, url: str, branch: str = "main") -> None:
        self.argocd = argocd
        self.repo = repo
        self.url = url
        self.branch = branch
        self.deliveries = 0
        self._stop = threading.Event()
        self._last = branch_head(repo, branch)
        self._thread = threading.Thread(target=self._run, name="git-webhook", daemon=True)
        self._thread.start()

    def _matches(self, app: dict[str, object]) -> bool:
        source = (app.get("spec") or {}).get("source") or {}  # type: ignore[union-attr]
        return source.get("repoURL") == self.url and source.get("targetRevision") in (self.branch, "HEAD")

    def deliver(self) -> None:
        """One push event: refresh every Application of this repository and branch."""
        for app in self.argocd.applications():
            if self._matches(app):
                self.argocd.refresh(app["metadata"]["name"])
        self.deliveries += 1

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            head = branch_head(self.repo, self.branch)
            if head is None or head == self._last:
                continue
            try:
                self.deliver()
            except M4DError:
                continue  # the hub was busy: try again on the next tick, as a host retries a delivery
            self._last = head

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
