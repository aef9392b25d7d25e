"""Watches on the embedded store: one tail per process and store, any number of watches on it.

However many watches a process holds on a store, one thread (`Tail`) looks for new events: it wakes at
once on this process's own writes and polls for other processes' every POLL_INTERVAL; each watch reads
the log only when its kind has something new, waits without polling otherwise, and ends at once when
closed.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from m4d.api.registry import kind_info
from m4d.cluster.interface import R, WatchEvent, WatchStream
from m4d.cluster.selectors import parse_selector

if TYPE_CHECKING:
    from m4d.cluster.local import LocalCluster

# How soon another process's writes are seen.
POLL_INTERVAL = 0.05


class Tail:
    """The newest resourceVersion of each kind in a store, kept by one thread while anyone watches."""

    def __init__(self, store: LocalCluster) -> None:
        self.store = store
        self.changed = threading.Condition()
        self.kinds: dict[str, int] = {}  # kind -> newest resourceVersion seen
        self._seen = 0
        self._watchers = 0
        self._poke = threading.Event()
        self._thread: threading.Thread | None = None

    def subscribe(self) -> None:
        with self.changed:
            self._watchers += 1
            if self._thread is None:
                with self.store._guard():
                    self._seen = self.store._current_rv(self.store._conn())
                self._thread = threading.Thread(target=self._loop, name=f"tail {self.store.name}", daemon=True)
                self._thread.start()

    def unsubscribe(self) -> None:
        with self.changed:
            self._watchers -= 1
        self._poke.set()

    def poke(self) -> None:
        """Something was written by this process: look now."""
        self._poke.set()

    def newest(self, kind: str) -> int:
        return self.kinds.get(kind, 0)

    def _loop(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                with self.changed:
                    if self._watchers <= 0 or self.store._closed:
                        self._thread = None
                        return
                conn = conn or self.store._connect()
                # NOT INDEXED: by rowid from `_seen` on (the few new rows); SQLite would otherwise group by
                # scanning the whole (kind, rv) index, the event history, on every look (1.4 ms at 20,000).
                rows = conn.execute(
                    "SELECT kind, MAX(rv) FROM events NOT INDEXED WHERE rv > ? GROUP BY kind", (self._seen,)
                ).fetchall()
                if rows:
                    with self.changed:
                        for kind, rv in rows:
                            self.kinds[kind] = max(self.kinds.get(kind, 0), int(rv))
                            self._seen = max(self._seen, int(rv))
                        self.changed.notify_all()
                self._poke.wait(POLL_INTERVAL)
                self._poke.clear()
        except sqlite3.Error:
            with self.changed:
                self._thread = None
                self.changed.notify_all()  # watchers notice nothing new; their own reads report the error
        finally:
            if conn is not None:
                conn.close()


class LocalWatch(WatchStream[R]):
    def __init__(
        self,
        store: LocalCluster,
        kind: type[R],
        namespace: str | None,
        resource_version: str | None,
        label_selector: str | None,
        timeout: float | None,
    ) -> None:
        super().__init__()
        self.store = store
        self.kind = kind
        self.namespace = namespace
        self.resource_version = resource_version
        self.label_selector = label_selector
        self.timeout = timeout

    def _wake(self) -> None:
        with self.store._tail.changed:
            self.store._tail.changed.notify_all()

    def _run(self) -> Iterator[WatchEvent[R]]:
        store, kind, tail = self.store, self.kind, self.store._tail
        info = kind_info(kind)
        selector = parse_selector(self.label_selector)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        tail.subscribe()
        try:
            if not self.resource_version:
                listed = store._list(kind, self.namespace, self.label_selector)
                for item in listed.items:
                    yield WatchEvent("ADDED", item, item.metadata.resource_version or listed.resource_version)
                last = int(listed.resource_version)
            else:
                last = store._parse_rv(self.resource_version)
                store._check_kept(last)
            ns = store._ns(info, self.namespace) if self.namespace is not None else None
            while not self._closed.is_set() and not store._closed:
                rows = store._events_after(info.kind, last)
                for rv, row_ns, etype, body, old_labels in rows:
                    last = rv
                    if ns is not None and row_ns != ns:
                        continue
                    obj = store._decode(kind, body)
                    event = store._selected(etype, obj, old_labels, selector)
                    if event is not None:
                        yield WatchEvent(event, obj, str(rv))
                    if self._closed.is_set():
                        return
                if rows:
                    continue
                store._check_kept(last)
                with tail.changed:
                    while tail.newest(info.kind) <= last and not self._closed.is_set() and not store._closed:
                        left = None if deadline is None else deadline - time.monotonic()
                        if left is not None and left <= 0:
                            break
                        tail.changed.wait(left)
                if deadline is not None and time.monotonic() >= deadline and tail.newest(info.kind) <= last:
                    break
            if not self._closed.is_set():
                with store._guard():
                    current = store._current_rv(store._conn())
                yield WatchEvent("BOOKMARK", None, str(max(last, current)))
        finally:
            tail.unsubscribe()
