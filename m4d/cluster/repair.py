"""Repair a damaged embedded store: keep every object still readable, move the damaged file aside.

SQLite reports a damaged file ("database disk image is malformed") on whichever query reaches a bad
page, so the salvage reads row by row around bad pages instead of failing on the first: every table
row by rowid, the object keys from the primary-key index (so what is lost can be named), and the event
log, whose newest event of an object stands in for an object row that cannot be read. The result is a
fresh store with the same objects (uids, generations, resourceVersions) and a resourceVersion counter
that never goes back, so watchers list again and carry on. Everything the store held that is lost is
either derived (Plotters, reports, Blueprint copies: the controllers and the sync rebuild them) or was
applied by someone, who applies it again (`m4d apply -f`, `m4d cluster onboard`).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from m4d.cluster.local import LocalCluster
from m4d.errors import PermanentError

Key = tuple[str, str, str]  # kind, namespace, name
_BATCH = 200
_MAX_SKIPPED = 200_000  # rowids probed past unreadable pages before giving up on the rest of a table


@dataclass
class RepairReport:
    path: Path
    damage: str | None = None  # what the integrity check said; None: the store is intact
    kept: dict[str, int] = field(default_factory=dict)  # kind → objects kept
    lost: list[Key] = field(default_factory=list)  # objects known to have existed, unreadable now
    unreadable_rows: int = 0
    moved_to: Path | None = None

    @property
    def repaired(self) -> bool:
        return self.moved_to is not None


def users(path: Path) -> list[int]:
    """Pids of processes that have the store (or its WAL) open: a repair under them would be lost."""
    targets = {str(path.resolve()) + suffix for suffix in ("", "-wal", "-shm")}
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if str(fd.readlink()) in targets:
                    found.append(int(proc.name))
                    break
            except OSError:
                continue
    return sorted(found)


def check(path: Path) -> str | None:
    """None if the store reads as intact, else SQLite's account of the damage."""
    try:
        conn = sqlite3.connect(path)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        rows = conn.execute("PRAGMA integrity_check(20)").fetchall()
    except sqlite3.Error as exc:
        return str(exc)
    finally:
        conn.close()
    lines = [str(r[0]) for r in rows]
    return None if lines == ["ok"] else "; ".join(lines)


_CORRUPT, _IOERR = 11, 10  # SQLite's primary result codes for a bad page


def _damaged_page(exc: sqlite3.DatabaseError) -> bool:
    """Whether a query failed on a bad page (rows past it may still be read), not on the file as a whole."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    return code in (_CORRUPT, _IOERR) or "malformed" in str(exc)


def _rows(conn: sqlite3.Connection, table: str, columns: str, report: RepairReport) -> Iterator[tuple[object, ...]]:
    """Every readable row of `table` in rowid order, stepping over rows on unreadable pages."""
    last, skipped = 0, 0
    while skipped < _MAX_SKIPPED:
        try:
            rows = conn.execute(
                f"SELECT rowid, {columns} FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT {_BATCH}",  # noqa: S608 - our own names
                (last,),
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            if not _damaged_page(exc):  # not a database at all, or no such table: no row can be read
                return
            last += 1
            skipped += 1
            try:  # a row alone may still be readable
                row = conn.execute(f"SELECT rowid, {columns} FROM {table} WHERE rowid = ?", (last,)).fetchone()  # noqa: S608
            except sqlite3.DatabaseError:
                report.unreadable_rows += 1
                continue
            if row is not None:
                yield row[1:]
            continue
        if not rows:
            return
        for row in rows:
            yield row[1:]
        last = int(rows[-1][0])


def _index_keys(conn: sqlite3.Connection) -> set[Key]:
    """Object keys as the primary-key index holds them (it may outlive the table pages it points to)."""
    keys: set[Key] = set()
    try:
        for kind, namespace, name in conn.execute(
            "SELECT kind, namespace, name FROM objects INDEXED BY sqlite_autoindex_objects_1 ORDER BY kind"
        ):
            keys.add((str(kind), str(namespace), str(name)))
    except sqlite3.DatabaseError:
        pass  # what was read before the bad page is kept
    return keys


def salvage(path: Path, report: RepairReport) -> tuple[dict[Key, tuple[int, str]], int]:
    """({key: (resourceVersion, body)} of every object still readable, highest resourceVersion seen)."""
    conn = sqlite3.connect(path)
    try:
        objects: dict[Key, tuple[int, str]] = {}
        top = 0
        for kind, namespace, name, rv, body in _rows(conn, "objects", "kind, namespace, name, rv, body", report):
            key = (str(kind), str(namespace), str(name))
            objects[key] = (int(str(rv)), str(body))
            top = max(top, int(str(rv)))
        newest: dict[Key, tuple[int, str, str]] = {}
        for rv, kind, namespace, name, kind_of_event, body in _rows(
            conn, "events", "rv, kind, namespace, name, type, body", report
        ):
            key = (str(kind), str(namespace), str(name))
            top = max(top, int(str(rv)))
            if key not in newest or newest[key][0] < int(str(rv)):
                newest[key] = (int(str(rv)), str(kind_of_event), str(body))
        known = _index_keys(conn) | set(objects)
    finally:
        conn.close()
    for key, (rv, event, body) in newest.items():
        if key in objects:
            continue
        if key in known and event != "DELETED" and body != "{}":
            objects[key] = (rv, body)  # its last event holds the object as it was written
    report.lost = sorted(k for k in known if k not in objects)
    return objects, top


def repair(path: Path) -> RepairReport:
    """Check the store at `path`; if damaged, rebuild it from what can be read. Refuses while in use."""
    path = Path(path)
    report = RepairReport(path)
    if not path.exists():
        return report
    in_use = users(path)
    if in_use:
        raise PermanentError(
            f"cluster store {path} is in use by process{'es' if len(in_use) > 1 else ''} "
            f"{', '.join(map(str, in_use))}; stop them first (`m4d down` for the demo's)",
            reason="StoreInUse",
        )
    report.damage = check(path)
    if report.damage is None:
        return report
    objects, top = salvage(path, report)
    fresh = path.with_name(path.name + ".repairing")
    for leftover in (fresh, Path(f"{fresh}-wal"), Path(f"{fresh}-shm")):
        leftover.unlink(missing_ok=True)
    LocalCluster(fresh, name="repair").close()  # the schema
    conn = sqlite3.connect(fresh, isolation_level=None)
    try:
        conn.execute("BEGIN")
        for (kind, namespace, name), (rv, body) in sorted(objects.items()):
            try:
                json.loads(body)
            except ValueError:
                report.lost.append((kind, namespace, name))
                continue
            conn.execute(
                "INSERT INTO objects (kind, namespace, name, rv, body) VALUES (?,?,?,?,?)",
                (kind, namespace, name, rv, body),
            )
            report.kept[kind] = report.kept.get(kind, 0) + 1
        # resourceVersions never go back, and no watch resumes across the repair: it lists again.
        conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('events', ?)", (top,))
        conn.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('compacted', ?)", (str(top),))
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    report.lost.sort()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report.moved_to = path.with_name(f"{path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        old = Path(f"{path}{suffix}")
        if old.exists():
            old.rename(Path(f"{report.moved_to}{suffix}"))
    Path(f"{fresh}-shm").unlink(missing_ok=True)
    Path(f"{fresh}-wal").unlink(missing_ok=True)
    fresh.rename(path)
    return report
