"""Catalog and policy changes that no hub resource shows: noticed, so decisions follow them.

A data steward edits a policy file, pushes rego to OPA, or changes an asset in a Fybrik catalog; the
hub's resources stay as they were. This watch asks each connector for its revision every `poll`
seconds (a stat of the built-in engines' files, a digest of OPA's policy modules) and, when one
changes, has every application evaluated again. A connector that cannot tell its revision (the
Fybrik-compatible connectors), or whose revision does not cover everything its answers depend on (OPA's
data documents), is asked again every `recheck` seconds instead. A connector that is down keeps its
last known revision: its outage shows in the applications' conditions, not here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from m4d.errors import M4DError

log = logging.getLogger("m4d.application")

POLL = 1.0  # seconds between revision checks (cheap: a stat of a directory, one small GET)
RECHECK = 30.0  # seconds between re-asks of connectors that cannot tell their revision


class Revisioned(Protocol):
    name: str
    revision_is_complete: bool

    def revision(self) -> str | None: ...


@dataclass
class RevisionWatch:
    """Decides, from connectors' revisions, when every application must be evaluated again."""

    connectors: Sequence[Revisioned]
    recheck: float = RECHECK
    _known: dict[str, str] = field(default_factory=dict)
    _rechecked: float | None = None

    def check(self, now: float) -> list[str]:
        """Why every application must be evaluated again now (empty: no reason). The first check only
        records the revisions (applications are evaluated when the controller starts anyway)."""
        reasons: list[str] = []
        blind = False
        for connector in self.connectors:
            try:
                revision = connector.revision()
            except M4DError as exc:
                log.debug("%s: no revision (%s)", connector.name, exc)
                continue
            if revision is None or not connector.revision_is_complete:
                blind = True
            if revision is None:
                continue
            known = self._known.get(connector.name)
            if known is not None and known != revision:
                reasons.append(f"{connector.name} changed (revision {known} -> {revision})")
            self._known[connector.name] = revision
        if self._rechecked is None:
            self._rechecked = now
        elif blind and now - self._rechecked >= self.recheck:
            reasons.append(f"the connectors are asked again every {self.recheck:g}s")
        if reasons:
            self._rechecked = now
        return reasons

    def run(self, stop: threading.Event, wake_all: Callable[[], None], poll: float = POLL) -> None:
        """Until `stop`: check every `poll` seconds, and call `wake_all` when there is a reason."""
        while not stop.is_set():
            reasons = self.check(time.monotonic())
            if reasons:
                log.info("evaluating every application again: %s", "; ".join(reasons))
                wake_all()
            stop.wait(poll)
