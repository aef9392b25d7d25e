"""The Plotter controller's commit loop: pending Plotter changes committed together, a short window at a time.

A reconcile decides its Plotter's change and hands it here (`submit`); the loop, one thread, waits
`window` seconds after the first change arrives, then writes every pending change (up to `limit`
Plotters, each named in the message with its trailers) in one commit, records each Plotter's result
and wakes it. The Plotter's next reconcile finds its change written (`result`) and returns its status.
Full syncs of the whole tree run here too (on start, after someone else moved the branch, when a member
cluster went, every resync period), never inside a Plotter's reconcile. Between writes the loop `look`s
(every `look_every` seconds) for the branch moved by someone else (drift.py), so that is noticed promptly,
not only at the next write.

Restart-safe as a single write is: the writer compares with the remote's head, so a batch written again
after a crash commits nothing, and a change lost with a crash is decided again when its Plotter is
reconciled after the restart. Nothing is kept but in memory.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from m4d.errors import M4DError, PermanentError
from m4d.generator.change import Change
from m4d.generator.message import MAX_LISTED, PlotterRef
from m4d.generator.tree import Origin
from m4d.git import blob_sha
from m4d.gitops.writer import GitOpsWriter, WriteResult
from m4d.runtime.controller import ObjectKey

log = logging.getLogger("m4d.controllers.plotter")

RETRY_BASE = 0.5
RETRY_MAX = 30.0


def change_digest(change: Change) -> str:
    """Names what a change writes, so a Plotter whose change was written can tell it is still the same."""
    digest = hashlib.sha256()
    for path in sorted(change.files):
        content = change.files[path]
        digest.update(f"{path}\0{blob_sha(content) if content is not None else '-'}\n".encode())
    return digest.hexdigest()


def merge(changes: Sequence[Change], reason: str | None = None) -> Change:
    """Several Plotters' changes as one (their files are their own; shared registrations agree)."""
    files: dict[str, bytes | None] = {}
    origins: dict[str, Origin] = {}
    plotters: list[PlotterRef] = []
    for change in changes:
        files.update(change.files)
        origins.update(change.origins)
        plotters.extend(change.plotters)
    return Change(files=files, origins=origins, plotters=plotters, subject="batch", reason=reason)


@dataclass(frozen=True)
class Written:
    """What became of a Plotter's change: the write's result, or the permanent error that refused it."""

    digest: str
    result: WriteResult | None = None
    error: PermanentError | None = None


@dataclass
class _Pending:
    key: ObjectKey
    change: Change
    digest: str


FullSync = Callable[[str], WriteResult]


@dataclass
class CommitLoop:
    writer: GitOpsWriter
    wake: Callable[[ObjectKey], None]
    full_sync: FullSync
    window: float = 0.2
    limit: int = MAX_LISTED
    resync_period: float = 600.0
    periodic_reason: str = "Periodic sync."
    foreign_reason: str = "Sync: the branch was changed outside m4d."
    look: Callable[[], None] | None = None
    look_every: float = 2.0
    _pending: dict[str, _Pending] = field(default_factory=dict, init=False)
    _written: dict[str, Written] = field(default_factory=dict, init=False)
    _cond: threading.Condition = field(default_factory=threading.Condition, init=False)
    _sync_reason: str | None = field(default=None, init=False)
    _writing: bool = field(default=False, init=False)
    _synced_at: float | None = field(default=None, init=False)
    _next_look: float = field(default=0.0, init=False)
    stats: dict[str, int] = field(default_factory=lambda: {"commits": 0, "batches": 0, "changes": 0}, init=False)

    # -- what reconciles call ---------------------------------------------------------------------

    def written(self, key: str, digest: str) -> Written | None:
        """The result of `key`'s change if that very change was written."""
        with self._cond:
            done = self._written.get(key)
            return done if done is not None and done.digest == digest else None

    def submit(self, key: ObjectKey, change: Change) -> None:
        digest = change_digest(change)
        with self._cond:
            self._pending[str(key)] = _Pending(key, change, digest)
            self._cond.notify_all()

    def forget(self, key: str) -> None:
        with self._cond:
            self._written.pop(key, None)
            self._pending.pop(key, None)

    def busy(self) -> bool:
        """Changes wait to be written, are being written, or a sync is due."""
        with self._cond:
            return bool(self._pending) or self._writing or self._sync_reason is not None

    def schedule_sync(self, reason: str) -> None:
        with self._cond:
            self._sync_reason = reason
            self._cond.notify_all()

    # -- the loop ---------------------------------------------------------------------------------

    def _sync_due(self, now: float) -> bool:
        return self._sync_reason is not None or (
            self._synced_at is not None and now - self._synced_at >= self.resync_period
        )

    def _look_due(self, now: float) -> bool:
        return self.look is not None and self.look_every > 0 and now >= self._next_look

    def _take(self, stop: threading.Event) -> tuple[str | None, list[_Pending]]:
        """Wait for work; (the sync's reason if one is due, the batch to write); nothing when a look is due."""
        with self._cond:
            while not stop.is_set():
                now = time.monotonic()
                if self._pending or self._sync_due(now):
                    break
                if self._look_due(now):
                    return None, []
                waits = [1.0]
                if self._synced_at is not None:
                    waits.append(self.resync_period - (now - self._synced_at))
                if self.look is not None and self.look_every > 0:
                    waits.append(self._next_look - now)
                self._cond.wait(max(min(waits), 0.0))
            if stop.is_set():
                return None, []
        if not self._sync_due(time.monotonic()):
            stop.wait(self.window)  # let the rest of a burst arrive
        with self._cond:
            reason = None
            if self._sync_due(time.monotonic()):
                reason = self._sync_reason or self.periodic_reason
                self._sync_reason = None
            keys = sorted(self._pending)[: self.limit]
            self._writing = bool(keys) or reason is not None
            return reason, [self._pending.pop(k) for k in keys]

    def run(self, stop: threading.Event, first_sync: str) -> None:
        self.schedule_sync(first_sync)
        failures = 0
        while not stop.is_set():
            if self.look is not None and self._look_due(time.monotonic()):
                self._next_look = time.monotonic() + self.look_every
                self.look()
            reason, batch = self._take(stop)
            if reason is None and not batch:
                continue
            try:
                if reason is not None:
                    self._sync(reason)
                if batch:
                    self._write(batch)
                failures = 0
            except M4DError as exc:  # temporary (the remote is away, the branch kept moving): later
                failures += 1
                delay = min(RETRY_BASE * 2**failures, RETRY_MAX)
                log.warning("committing %d Plotter change(s) failed (%s); retrying in %.1fs", len(batch), exc, delay)
                with self._cond:
                    if reason is not None and self._sync_reason is None:
                        self._sync_reason = reason
                    for item in batch:  # unless a newer change of the same Plotter came meanwhile
                        self._pending.setdefault(str(item.key), item)
                stop.wait(delay)
            finally:
                with self._cond:
                    self._writing = False

    def _sync(self, reason: str) -> None:
        result = self.full_sync(reason)
        self._synced_at = time.monotonic()
        if result.commit:
            self.stats["commits"] += 1

    def _record(self, batch: Sequence[_Pending], written: Callable[[_Pending], Written]) -> None:
        with self._cond:
            for item in batch:
                self._written[str(item.key)] = written(item)
        for item in batch:  # woken while still `busy`, so nobody sees a quiet moment in between
            self.wake(item.key)

    def _write(self, batch: Sequence[_Pending]) -> None:
        self.stats["batches"] += 1
        self.stats["changes"] += len(batch)
        if self.writer.mode == "review":
            raise AssertionError("review mode writes each Plotter's change in its own reconcile")
        try:
            result = self.writer.write(merge([b.change for b in batch]))
        except PermanentError as exc:
            if len(batch) == 1:
                refused = exc
                self._record(batch, lambda item: Written(item.digest, error=refused))
                return
            # One change the remote refuses must not hold the others back: write them one by one.
            for item in batch:
                self._write([item])
            return
        if result.commit:
            self.stats["commits"] += 1
        if result.foreign:
            log.info("the branch was moved by another writer; a full sync follows")
            self.schedule_sync(self.foreign_reason)
        self._record(batch, lambda item: Written(item.digest, result=result))
