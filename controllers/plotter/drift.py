"""Watch the GitOps branch for changes the hub did not make, so they are undone in seconds, not minutes.

Argo CD (or the sync) applies whatever the branch says within moments, so a hand edit or a force-push is
live on the members almost at once. The commit loop looks at the remote's branch head every few seconds
(`git ls-remote`: nothing is fetched); when it is not what the hub last wrote or read, a full sync runs
at once and the generated folders become the hub's state again, in a commit on top of whatever is there.
Members never run what the hub did not sign meanwhile (m4d.credentials.signing); the watch bounds how
long they are told something else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from m4d.errors import M4DError
from m4d.gitops.writer import GitOpsWriter

log = logging.getLogger("m4d.controllers.plotter")


class BranchWatch:
    """`look()` once in a while: calls `on_foreign(head)` when the branch moved outside this writer."""

    def __init__(self, writer: GitOpsWriter, on_foreign: Callable[[str], None]) -> None:
        self.writer = writer
        self.on_foreign = on_foreign
        self._failing: str | None = None

    def look(self) -> None:
        try:
            head = self.writer.moved()
        except M4DError as exc:  # the remote is away: the next write or look tells
            if str(exc) != self._failing:  # once per distinct failure, not every few seconds
                log.warning("watching the GitOps branch: %s", exc)
            self._failing = str(exc)
            return
        self._failing = None
        if head is not None:
            log.warning("%s moved to %s outside m4d: restoring the hub's state", self.writer.branch, head[:12])
            self.on_foreign(head)
