"""The embedded cluster store: Kubernetes API semantics on one SQLite file.

Several processes may share a store (the hub controllers, `m4d apply`, an agent): SQLite serialises
writers, every write appends to an event log whose row id is the new resourceVersion (monotonic across
processes), and watchers tail that log. Watches resume after a restart from any resourceVersion still
in the log; older history is compacted and a watch from before it gets GoneError, as with etcd.

Watches are in `local_watch.py`.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from m4d.api.meta import Resource, format_time, utcnow
from m4d.api.registry import KindInfo, kind_info
from m4d.api.schema import validate_object, validate_status, validate_unchanged_spec
from m4d.api.strict import OBJECT_BYTES
from m4d.cluster.interface import Cluster, EventType, R, ResourceList, WatchStream
from m4d.cluster.local_watch import LocalWatch, Tail
from m4d.cluster.selectors import parse_selector
from m4d.errors import (
    AlreadyExistsError,
    ConflictError,
    FieldError,
    GoneError,
    InvalidError,
    M4DError,
    NotFoundError,
    PermanentError,
    StoreCorruptError,
    TemporaryError,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    rv INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (kind, namespace, name)
);
CREATE TABLE IF NOT EXISTS events (
    rv INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    type TEXT NOT NULL, body TEXT NOT NULL, old_labels TEXT
);
CREATE INDEX IF NOT EXISTS events_by_kind ON events (kind, rv);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# Kept history: enough for watchers that were away for a while, bounded so the file does not grow forever.
EVENT_HISTORY = 20_000


# rv, namespace, type, body, old labels (of one kind, in order)
_EventRows = list[tuple[int, str, str, str, str | None]]

_CLIENT_META = ("labels", "annotations", "finalizers", "ownerReferences")


def _clean_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """Empty collections are stored as absent, as the API server does, so equal objects compare equal."""
    return {k: v for k, v in meta.items() if not (k in _CLIENT_META and not v)}


def _spec_of(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("metadata", "status", "apiVersion", "kind")}


REPAIR = (
    "stop every m4d process that uses it (`m4d down` for the demo's) and run `m4d hub repair`: it keeps "
    "what can still be read, moves the damaged file aside and lists what to apply again (docs/operations.md)"
)

# SQLite's primary result codes (sqlite3.Error.sqlite_errorcode & 0xff).
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _NOTADB = 5, 6, 8, 10, 11, 13, 26


def _unusable(path: Path, exc: Exception) -> M4DError:
    """Why the store cannot be used, in the project's words: busy or out of space is temporary (retry);
    a damaged file is StoreCorruptError (stop and repair); anything else names what to check."""
    if isinstance(exc, OSError):
        parent = next((p for p in path.parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            return PermanentError(f"cluster store {path}: {parent} is a file, not a directory", reason="StoreUnusable")
        return PermanentError(f"cluster store {path} cannot be opened: {exc.strerror or exc}", reason="StoreUnusable")
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    text = str(exc)
    if code in (_BUSY, _LOCKED) or "locked" in text or "busy" in text:
        return TemporaryError(f"cluster store {path} is busy: {text}", reason="StoreBusy")
    if code == _FULL:
        return TemporaryError(f"cluster store {path}: {text} (free some space)", reason="StoreFull")
    if code == _IOERR:
        return TemporaryError(f"cluster store {path}: {text}", reason="StoreIOError")
    if code == _NOTADB or "not a database" in text:
        return StoreCorruptError(f"cluster store {path} is not a store (not an SQLite database); {REPAIR}")
    if code == _CORRUPT or "malformed" in text:
        return StoreCorruptError(f"cluster store {path} is damaged ({text}); {REPAIR}")
    if code == _READONLY:
        return PermanentError(f"cluster store {path} cannot be written: {text}", reason="StoreUnusable")
    return PermanentError(f"cluster store {path} cannot be used: {text}", reason="StoreUnusable")


_WRITER_LOCKS: dict[Path, threading.Lock] = {}
_WRITER_LOCKS_LOCK = threading.Lock()


def _writer_lock(path: Path) -> threading.Lock:
    """One lock per store file for all the stores of this process that open it."""
    key = path.resolve()
    with _WRITER_LOCKS_LOCK:
        return _WRITER_LOCKS.setdefault(key, threading.Lock())


class LocalCluster(Cluster):
    """A cluster store kept in `path` (a SQLite file), named `name` in messages."""

    def __init__(self, path: str | Path, name: str = "local", history: int = EVENT_HISTORY) -> None:
        self.name = name
        self.path = Path(path)
        self._history = history
        self._local = threading.local()
        self._closed = False
        self._tail = Tail(self)
        self._writer = _writer_lock(self.path)
        self.requests = Counter()
        self._requests_lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn().executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            self.close()
            raise _unusable(self.path, exc) from None
        except M4DError:
            self.close()
            raise

    # -- plumbing -------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
        except sqlite3.Error:
            conn.close()
            raise
        return conn

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            with self._guard():
                conn = self._local.conn = self._connect()
        return conn

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Every SQLite error, in the project's words (see `_unusable`): no sqlite3 exception leaves the store."""
        try:
            yield
        except sqlite3.Error as exc:
            raise _unusable(self.path, exc) from None

    def _count(self, verb: str) -> None:
        with self._requests_lock:
            self.requests[verb] += 1

    @contextmanager
    def _tx(self, dry_run: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction; a dry run goes through every check and write, then rolls back.

        Writers of this process queue on a lock of their own first: SQLite's busy handler, which other
        processes' writers still meet, sleeps in growing steps and would leave the file idle meanwhile."""
        with self._writer, self._guard():
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("ROLLBACK" if dry_run else "COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
                        conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        self._closed = True
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        with self._tail.changed:
            self._tail.changed.notify_all()
        self._tail.poke()

    def _notify(self) -> None:
        self._tail.poke()

    @staticmethod
    def _ns(info: KindInfo, namespace: str | None) -> str:
        if not info.namespaced:
            return ""
        return namespace or "default"

    def _missing(self, info: KindInfo, name: str, ns: str) -> NotFoundError:
        where = f" in namespace {ns}" if ns else ""
        return NotFoundError(f"{info.kind} {name!r} not found{where} on cluster {self.name}")

    def _decode(self, kind: type[R], body: str) -> R:
        return kind.model_validate(json.loads(body))

    def _row(self, db: sqlite3.Connection, info: KindInfo, ns: str, name: str) -> dict[str, Any] | None:
        row = db.execute(
            "SELECT body FROM objects WHERE kind=? AND namespace=? AND name=?", (info.kind, ns, name)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def _write(
        self,
        db: sqlite3.Connection,
        info: KindInfo,
        ns: str,
        body: dict[str, Any],
        event: EventType,
        old_labels: dict[str, str] | None,
    ) -> dict[str, Any]:
        """Append the event (allocating the resourceVersion) and store or remove the object."""
        name = body["metadata"]["name"]
        cur = db.execute(
            "INSERT INTO events (kind, namespace, name, type, body, old_labels) VALUES (?,?,?,?,?,?)",
            (info.kind, ns, name, event, "{}", json.dumps(old_labels) if old_labels is not None else None),
        )
        rv = int(cur.lastrowid or 0)
        body["metadata"]["resourceVersion"] = str(rv)
        text = json.dumps(body, sort_keys=True, separators=(",", ":"))
        size = len(text.encode())
        if event != "DELETED" and size > OBJECT_BYTES:
            # What etcd behind an API server refuses ("request is too large"); nothing is stored.
            too_large = f"is too large to store: {size:,} bytes, over the {OBJECT_BYTES:,} etcd stores"
            raise InvalidError(f"{info.kind} {name}", [FieldError("", too_large)])
        db.execute("UPDATE events SET body=? WHERE rv=?", (text, rv))
        if event == "DELETED":
            db.execute("DELETE FROM objects WHERE kind=? AND namespace=? AND name=?", (info.kind, ns, name))
        else:
            db.execute(
                "INSERT OR REPLACE INTO objects (kind, namespace, name, rv, body) VALUES (?,?,?,?,?)",
                (info.kind, ns, name, rv, text),
            )
        if rv % 500 == 0:
            self._compact(db, rv)
        return body

    def compact(self, keep: int | None = None) -> None:
        """Drop the event history but for the last `keep` events (default: the store's history size);
        watches from before that get GoneError, as after an etcd compaction."""
        with self._tx() as db:
            self._compact(db, self._current_rv(db), self._history if keep is None else keep)

    def _compact(self, db: sqlite3.Connection, rv: int, keep: int | None = None) -> None:
        floor = rv - (self._history if keep is None else keep)
        if floor > 0:
            db.execute("DELETE FROM events WHERE rv <= ?", (floor,))
            db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('compacted', ?)", (str(floor),))

    def _validated(self, info: KindInfo, obj: Resource) -> dict[str, Any]:
        if type(obj) is not info.model:
            raise InvalidError(f"{info.kind} {obj.name}", [FieldError("kind", f"expected {info.kind}")])
        return validate_object(info, obj.wire())

    def _validated_update(self, info: KindInfo, ns: str, obj: Resource) -> dict[str, Any]:
        """As `_validated`; when only metadata changes from what is stored, only the metadata is checked."""
        if type(obj) is not info.model:
            raise InvalidError(f"{info.kind} {obj.name}", [FieldError("kind", f"expected {info.kind}")])
        wire = obj.model_copy(update={"status": None}).wire()
        with self._guard():
            stored = self._row(self._conn(), info, ns, obj.name)
        checked = validate_unchanged_spec(info, wire, stored) if stored is not None else None
        return checked if checked is not None else validate_object(info, wire)

    # -- reads ----------------------------------------------------------------------------------

    def get(self, kind: type[R], name: str, namespace: str | None = None) -> R:
        self._count("get")
        return self._get(kind, name, namespace)

    def _get(self, kind: type[R], name: str, namespace: str | None = None) -> R:
        info = kind_info(kind)
        ns = self._ns(info, namespace)
        with self._guard():
            row = (
                self._conn()
                .execute("SELECT body FROM objects WHERE kind=? AND namespace=? AND name=?", (info.kind, ns, name))
                .fetchone()
            )
        if row is None:
            raise self._missing(info, name, ns)
        return self._decode(kind, row[0])

    def _current_rv(self, db: sqlite3.Connection) -> int:
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name='events'").fetchone()
        return int(row[0]) if row else 0

    def list(self, kind: type[R], namespace: str | None = None, label_selector: str | None = None) -> ResourceList[R]:
        self._count("list")
        return self._list(kind, namespace, label_selector)

    def _list(self, kind: type[R], namespace: str | None = None, label_selector: str | None = None) -> ResourceList[R]:
        info = kind_info(kind)
        selector = parse_selector(label_selector)
        db = self._conn()
        with self._guard():
            db.execute("BEGIN")  # one snapshot for the rows and the resourceVersion
            try:
                query = "SELECT body FROM objects WHERE kind=?"
                args: tuple[str, ...] = (info.kind,)
                if namespace is not None and info.namespaced:
                    query += " AND namespace=?"
                    args += (namespace,)
                rows = db.execute(query + " ORDER BY namespace, name", args).fetchall()
                rv = self._current_rv(db)
            finally:
                if db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("COMMIT")
        items = [self._decode(kind, r[0]) for r in rows]
        items = [i for i in items if selector.matches(i.metadata.labels)]
        return ResourceList(items=items, resource_version=str(rv))

    def watch(
        self,
        kind: type[R],
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: str | None = None,
        timeout: float | None = None,
    ) -> WatchStream[R]:
        self._count("watch")
        return LocalWatch(self, kind, namespace, resource_version, label_selector, timeout)

    def _check_kept(self, rv: int) -> None:
        with self._guard():
            row = self._conn().execute("SELECT value FROM settings WHERE key='compacted'").fetchone()
        if row and rv < int(row[0]):
            raise GoneError(f"resourceVersion {rv} is too old on cluster {self.name}; list again")

    def _events_after(self, kind: str, rv: int) -> _EventRows:
        with self._guard():
            rows = (
                self._conn()
                .execute(
                    "SELECT rv, namespace, type, body, old_labels FROM events WHERE kind=? AND rv>? ORDER BY rv"
                    " LIMIT 500",
                    (kind, rv),
                )
                .fetchall()
            )
        if rows:
            self._check_kept(rv)  # the rows read are whole only if nothing after `rv` was compacted
        return rows

    @staticmethod
    def _selected(etype: str, obj: Resource, old_labels: str | None, selector: Any) -> EventType | None:
        """Translate a stored event for a watcher with a label selector (objects move in and out)."""
        now_in = selector.matches(obj.metadata.labels)
        was_in = selector.matches(json.loads(old_labels)) if old_labels is not None else None
        if etype == "ADDED":
            return "ADDED" if now_in else None
        if etype == "DELETED":
            return "DELETED" if (was_in if was_in is not None else now_in) else None
        if was_in is None or (was_in and now_in):
            return "MODIFIED" if now_in else None
        if was_in and not now_in:
            return "DELETED"
        return "ADDED" if now_in else None

    def _parse_rv(self, value: str | None) -> int:
        try:
            return int(value or 0)
        except ValueError:
            raise InvalidError("resourceVersion", [FieldError("resourceVersion", f"not valid: {value!r}")]) from None

    # -- writes ---------------------------------------------------------------------------------

    def create(self, obj: R, *, dry_run: bool = False) -> R:
        self._count("create")
        return self._create(obj, dry_run=dry_run)

    def _create(self, obj: R, *, dry_run: bool = False) -> R:
        info = kind_info(type(obj))
        if obj.metadata.resource_version:
            raise InvalidError(
                f"{info.kind} {obj.name}",
                [FieldError("metadata.resourceVersion", "must not be set on objects to be created")],
            )
        meta = obj.metadata
        name = meta.name or f"{meta.generate_name or ''}{secrets.token_hex(3)[:5]}"
        ns = self._ns(info, meta.namespace)
        candidate = obj.model_copy(
            update={
                "metadata": meta.model_copy(update={"name": name, "namespace": ns or None}),
                "status": None,
            }
        )
        body = self._validated(info, candidate)
        body["metadata"] = _clean_meta(body["metadata"])
        body["metadata"].update(uid=str(uuid.uuid4()), generation=1, creationTimestamp=format_time(utcnow()))
        body["metadata"].pop("deletionTimestamp", None)
        with self._tx(dry_run) as db:
            if self._row(db, info, ns, name) is not None:
                raise AlreadyExistsError(f"{info.kind} {name!r} already exists on cluster {self.name}")
            stored = self._write(db, info, ns, body, "ADDED", None)
        self._notify()
        return type(obj).model_validate(stored)

    def _check_precondition(self, info: KindInfo, obj: Resource, current: dict[str, Any]) -> None:
        wanted = obj.metadata.resource_version
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise ConflictError(
                f"{info.kind} {obj.name!r} on cluster {self.name} was modified (resourceVersion "
                f"{current['metadata']['resourceVersion']}, not {wanted}); read it again and retry"
            )

    def _merge_meta(
        self, info: KindInfo, current: dict[str, Any], new: dict[str, Any], now_deleting: bool
    ) -> dict[str, Any]:
        """Metadata the client may change (labels, annotations, finalizers, owners); the rest is the server's."""
        old = current["metadata"]
        meta = dict(old)
        for key in _CLIENT_META:
            if new.get(key):
                meta[key] = new[key]
            else:
                meta.pop(key, None)
        if now_deleting:
            added = set(meta.get("finalizers", [])) - set(old.get("finalizers", []))
            if added:
                raise InvalidError(
                    f"{info.kind} {old['name']}",
                    [
                        FieldError(
                            "metadata.finalizers",
                            f"no new finalizers can be added while deleting: {sorted(added)}",
                        )
                    ],
                )
        return meta

    def update(self, obj: R, *, dry_run: bool = False) -> R:
        self._count("update")
        return self._update(obj, dry_run=dry_run)

    def _update(self, obj: R, *, dry_run: bool = False) -> R:
        info = kind_info(type(obj))
        ns = self._ns(info, obj.metadata.namespace)
        new = self._validated_update(info, ns, obj)
        with self._tx(dry_run) as db:
            current = self._row(db, info, ns, obj.name)
            if current is None:
                raise self._missing(info, obj.name, ns)
            self._check_precondition(info, obj, current)
            deleting = "deletionTimestamp" in current["metadata"]
            body = {**_spec_of(new), "apiVersion": info.api_version, "kind": info.kind}
            if "status" in current:
                body["status"] = current["status"]
            body["metadata"] = self._merge_meta(info, current, new["metadata"], deleting)
            if _spec_of(body) != _spec_of(current):
                body["metadata"]["generation"] = int(current["metadata"].get("generation", 1)) + 1
            stored = self._store_change(db, info, ns, current, body)
        self._notify()
        return type(obj).model_validate(stored)

    def _store_change(
        self, db: sqlite3.Connection, info: KindInfo, ns: str, current: dict[str, Any], body: dict[str, Any]
    ) -> dict[str, Any]:
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        if body == current:
            return current  # nothing changed: no new resourceVersion, no event
        old_labels = current["metadata"].get("labels", {})
        if "deletionTimestamp" in body["metadata"] and not body["metadata"].get("finalizers"):
            return self._write(db, info, ns, body, "DELETED", old_labels)
        return self._write(db, info, ns, body, "MODIFIED", old_labels)

    def update_status(self, obj: R) -> R:
        self._count("update_status")
        info = kind_info(type(obj))
        ns = self._ns(info, obj.metadata.namespace)
        with self._tx() as db:
            current = self._row(db, info, ns, obj.name)
            if current is None:
                raise self._missing(info, obj.name, ns)
            self._check_precondition(info, obj, current)
            status = obj.status.wire() if obj.status is not None else None  # type: ignore[attr-defined]
            checked = validate_status(info, current, status, f"{info.kind} {obj.name} status")
            checked["metadata"] = dict(current["metadata"])
            stored = self._store_change(db, info, ns, current, checked)
        self._notify()
        return type(obj).model_validate(stored)

    def apply(self, obj: R, field_manager: str, force: bool = True, *, dry_run: bool = False) -> R:
        self._count("apply")
        info = kind_info(type(obj))
        ns = self._ns(info, obj.metadata.namespace)
        for _ in range(5):
            try:
                current = self._get(type(obj), obj.name, ns or None)
            except NotFoundError:
                try:
                    return self._create(obj.model_copy(update={"metadata": obj.metadata.model_copy(
                        update={"resource_version": None})}), dry_run=dry_run)  # fmt: skip
                except AlreadyExistsError:
                    continue
            meta = current.metadata.model_copy(
                update={
                    "labels": {**current.metadata.labels, **obj.metadata.labels},
                    "annotations": {**current.metadata.annotations, **obj.metadata.annotations},
                    "finalizers": sorted(set(current.metadata.finalizers) | set(obj.metadata.finalizers)),
                    "owner_references": obj.metadata.owner_references or current.metadata.owner_references,
                }
            )
            desired = obj.model_copy(update={"metadata": meta})
            try:
                return self._update(desired, dry_run=dry_run)
            except ConflictError:
                continue
        raise ConflictError(f"{info.kind} {obj.name!r} kept changing while applying; retry")

    def delete(self, kind: type[R], name: str, namespace: str | None = None) -> R | None:
        self._count("delete")
        info = kind_info(kind)
        ns = self._ns(info, namespace)
        with self._tx() as db:
            current = self._row(db, info, ns, name)
            if current is None:
                raise self._missing(info, name, ns)
            body = json.loads(json.dumps(current))
            if body["metadata"].get("finalizers"):
                if "deletionTimestamp" in body["metadata"]:
                    return kind.model_validate(current)
                body["metadata"]["deletionTimestamp"] = format_time(utcnow())
                stored = self._write(db, info, ns, body, "MODIFIED", current["metadata"].get("labels", {}))
                result: R | None = kind.model_validate(stored)
            else:
                self._write(db, info, ns, body, "DELETED", current["metadata"].get("labels", {}))
                result = None
        self._notify()
        return result
