"""Each application's access token, minted when the application appears and forgotten when it goes.

The token is what the application's workload presents to its module endpoints; members grant it by
digest (see `m4d.credentials.app_tokens`). In the embedded default the credential store is the hub
directory's secrets file.

A reconcile only notes what the file must hold; a flush loop (one thread) writes every noted mint and
removal once per short window in one edit of the file, so a thousand new applications cost a few
edits, not a thousand. An application being deleted keeps its finalizer until its token is gone from
the file. What was written is remembered only in memory: after a restart every application is noted
again, and an edit that changes nothing writes nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from m4d.api.application import M4DApplication
from m4d.credentials.app_tokens import edit_tokens_in_file
from m4d.errors import M4DError
from m4d.runtime.controller import Controller, ObjectKey, Outcome

log = logging.getLogger("m4d.controllers.tokens")

TOKEN_FINALIZER = "app.m4d.dev/access-token"  # noqa: S105 - a finalizer name
# A deleted application waits for its token's removal (the flush loop wakes it); a safety net.
FORGET_CHECK = 10.0

Want = Literal["mint", "forget"]


@dataclass
class TokenController(Controller[M4DApplication]):
    secrets_file: Path = field(kw_only=True)
    flush_window: float = field(default=0.1, kw_only=True)
    _pending: dict[ObjectKey, Want] = field(default_factory=dict, init=False)
    _done: dict[ObjectKey, Want] = field(default_factory=dict, init=False)
    _flushing: bool = field(default=False, init=False)
    edits: int = field(default=0, init=False)  # edits of the file made
    _cond: threading.Condition = field(default_factory=threading.Condition, init=False)

    def __post_init__(self) -> None:
        self.kind = M4DApplication
        self.name = "access-tokens"
        self.finalizer = TOKEN_FINALIZER

    def _note(self, key: ObjectKey, want: Want) -> bool:
        """True once `want` is written for `key`; else noted for the next flush."""
        with self._cond:
            if self._done.get(key) == want and key not in self._pending:
                return True
            self._pending[key] = want
            self._cond.notify_all()
            return False

    def reconcile(self, obj: M4DApplication) -> Outcome:
        self._note(ObjectKey.of(obj), "mint")
        return Outcome()

    def finalize(self, obj: M4DApplication) -> Outcome:
        key = ObjectKey.of(obj)
        if not self._note(key, "forget"):
            return Outcome(requeue_after=FORGET_CHECK)  # woken once the token is gone
        with self._cond:
            self._done.pop(key, None)
        return Outcome()

    # -- the flush loop -----------------------------------------------------------------------------

    def background(self) -> Sequence[Callable[[threading.Event], None]]:
        return [self._flush_loop]

    def busy(self) -> bool:
        with self._cond:
            return bool(self._pending) or self._flushing

    def _flush_loop(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            with self._cond:
                while not self._pending and not stop.is_set():
                    self._cond.wait(1.0)
                self._flushing = True
            try:
                stop.wait(self.flush_window)  # let the rest of a burst arrive
                with self._cond:
                    batch, self._pending = self._pending, {}
                try:
                    self._flush(batch)
                    failures = 0
                except (OSError, M4DError) as exc:
                    failures += 1
                    delay = min(0.5 * 2**failures, 30.0)
                    log.warning("writing %d token change(s) to %s failed (%s)", len(batch), self.secrets_file, exc)
                    with self._cond:
                        for key, want in batch.items():
                            self._pending.setdefault(key, want)
                    stop.wait(delay)
            finally:
                with self._cond:
                    self._flushing = False

    def _flush(self, batch: dict[ObjectKey, Want]) -> None:
        mint = [(k.namespace or "default", k.name) for k, w in batch.items() if w == "mint"]
        forget = [(k.namespace or "default", k.name) for k, w in batch.items() if w == "forget"]
        if edit_tokens_in_file(self.secrets_file, mint=mint, forget=forget):
            self.edits += 1
        with self._cond:
            self._done.update(batch)
        for key, want in batch.items():
            if want == "forget":
                self.enqueue(key)  # its finalizer can go now
