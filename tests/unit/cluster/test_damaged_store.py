"""A damaged store file: every operation says so in the project's words, and `repair` keeps what it can."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from m4d.api import M4DApplication, MemberCluster
from m4d.cluster.local import LocalCluster
from m4d.cluster.repair import check, repair
from m4d.errors import PermanentError, StoreCorruptError
from m4d.runtime.controller import Controller, Outcome
from m4d.runtime.manager import Manager
from tests.factories import application, member

COUNT = 150


def _filled(path: Path, count: int = COUNT) -> None:
    store = LocalCluster(path, name="hub")
    for i in range(count):
        store.create(application(f"app-{i:03d}", intent="Fraud Detection"))
    for i in range(count):  # a second version of each: the event log holds both
        app = store.get(M4DApplication, f"app-{i:03d}", "default")
        app.metadata.labels = {"round": "2"}
        store.update(app)
    store.create(member("eu-de-1"))
    store._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()


def _damage(path: Path, table: str, pages: int = 2) -> None:
    """Overwrite leaf pages from the middle of `table` with noise, as a torn write would leave them."""
    conn = sqlite3.connect(path)
    leaves = [int(r[0]) for r in conn.execute("SELECT pageno FROM dbstat WHERE name=? AND pagetype='leaf'", (table,))]
    size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    conn.close()
    assert len(leaves) > pages * 2, f"{table} has {len(leaves)} leaf pages"
    middle = len(leaves) // 2
    with path.open("r+b") as f:
        for page in leaves[middle : middle + pages]:
            f.seek((page - 1) * size)
            f.write(os.urandom(size))


@pytest.fixture
def damaged(tmp_path: Path) -> Path:
    path = tmp_path / "hub.db"
    _filled(path)
    _damage(path, "objects")
    _damage(path, "events")
    assert check(path) is not None
    return path


def _operations(store: LocalCluster) -> dict[str, Callable[[], object]]:
    return {
        "list": lambda: store.list(M4DApplication),
        "watch": lambda: list(store.watch(M4DApplication, resource_version="1", timeout=0.2)),
        "get": lambda: [store.get(M4DApplication, f"app-{i:03d}", "default") for i in range(COUNT)],
        "update": lambda: [
            store.update_status(store.get(M4DApplication, f"app-{i:03d}", "default")) for i in range(COUNT)
        ],
        "delete": lambda: [store.delete(M4DApplication, f"app-{i:03d}", "default") for i in range(COUNT)],
    }


def test_every_operation_on_a_damaged_store_raises_store_corrupt_never_sqlite(damaged: Path) -> None:
    store = LocalCluster(damaged, name="hub")
    for name, operation in _operations(store).items():
        with pytest.raises(StoreCorruptError) as info:
            operation()
        assert "m4d hub repair" in str(info.value), name
        assert str(damaged) in str(info.value)
    store.close()


def test_repair_keeps_what_can_be_read_and_moves_the_damaged_file_aside(damaged: Path) -> None:
    before = damaged.stat().st_size
    report = repair(damaged)
    assert report.repaired and report.damage
    assert report.moved_to is not None and report.moved_to.stat().st_size == before
    kept = report.kept.get("M4DApplication", 0)
    assert kept + sum(1 for k in report.lost if k[0] == "M4DApplication") == COUNT  # every one accounted for
    assert kept > COUNT // 2
    assert check(damaged) is None
    store = LocalCluster(damaged, name="hub")
    apps = store.list(M4DApplication)
    assert len(apps.items) == kept
    assert all(a.metadata.labels == {"round": "2"} for a in apps.items)  # the newest version of each
    assert store.get(MemberCluster, "eu-de-1").spec.region == "eu-de"
    # resourceVersions go on from where the damaged store was; a watch from before the repair lists again.
    newest = max(int(a.metadata.resource_version or 0) for a in apps.items)
    assert int(store.create(application("after")).metadata.resource_version or 0) > newest
    assert int(apps.resource_version) >= newest
    store.close()
    assert repair(damaged).repaired is False  # now intact: nothing to do


def test_lost_objects_are_named(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    _filled(path)
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM events")  # only the object rows are left to salvage from
    conn.commit()
    conn.execute("VACUUM")
    conn.close()
    _damage(path, "objects")
    report = repair(path)
    assert report.repaired
    assert report.lost, "the damaged pages held objects"
    store = LocalCluster(path)
    names = {a.name for a in store.list(M4DApplication).items}
    assert all(kind == "M4DApplication" and name not in names for kind, _, name in report.lost)
    assert len(names) + len(report.lost) == COUNT
    store.close()


def test_repair_refuses_a_store_in_use(damaged: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); sys.stdin.read()", str(damaged)],
        stdin=subprocess.PIPE,
    )
    try:
        for _ in range(100):
            if str(damaged) in {str(p.readlink()) for p in Path(f"/proc/{holder.pid}/fd").iterdir()}:
                break
            threading.Event().wait(0.05)
        with pytest.raises(PermanentError, match=f"in use by process {holder.pid}"):
            repair(damaged)
    finally:
        holder.communicate(b"")
    assert repair(damaged).repaired


@dataclass
class _Noop(Controller[M4DApplication]):
    def __post_init__(self) -> None:
        self.kind = M4DApplication
        self.name = "noop"

    def reconcile(self, obj: M4DApplication) -> Outcome:
        return Outcome()


def test_a_manager_stops_on_a_damaged_store_and_says_so_once(damaged: Path) -> None:
    store = LocalCluster(damaged, name="hub")
    manager = Manager([_Noop(store)])
    stop = threading.Event()
    with pytest.raises(StoreCorruptError, match="m4d hub repair"):
        manager.run(stop)  # returns (raising) by itself: nothing retries a damaged store
    assert stop.is_set()
    store.close()


@pytest.mark.timeout(60)
def test_a_file_that_is_no_database_at_all_is_moved_aside_at_once(tmp_path: Path) -> None:
    """Nothing can be read from it: the salvage does not probe row after row for what is not there."""
    path = tmp_path / "hub.db"
    garbage = b"not an SQLite file " * 500
    path.write_bytes(garbage)
    report = repair(path)
    assert report.damage == "file is not a database"
    assert report.kept == {} and report.lost == []
    assert report.moved_to is not None and report.moved_to.read_bytes() == garbage
    assert LocalCluster(path, name="hub").list(MemberCluster).items == []
