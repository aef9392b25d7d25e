"""What only the embedded store must prove: several processes, restarts, compaction."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from m4d.api import M4DApplication
from m4d.cluster.local import LocalCluster
from m4d.errors import ConflictError, GoneError, InvalidError
from tests.factories import application


def _writer(path: str, prefix: str, count: int) -> None:
    store = LocalCluster(path, name="hub")
    for i in range(count):
        store.create(application(f"{prefix}-{i}"))
    # Contend on one object: optimistic concurrency must lose no update.
    done = 0
    while done < count:
        app = store.get(M4DApplication, "shared", "default")
        app.metadata.annotations = {**app.metadata.annotations, f"{prefix}-{done}": "x"}
        try:
            store.update(app)
            done += 1
        except ConflictError:
            continue
    store.close()


def test_several_processes_share_a_store(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    store = LocalCluster(path, name="hub")
    store.create(application("shared"))
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), p, 25)) for p in ("p", "q", "r")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    items = store.list(M4DApplication).items
    assert len(items) == 76
    shared = store.get(M4DApplication, "shared", "default")
    assert len(shared.metadata.annotations) == 75  # every contended update landed exactly once
    versions = [int(e.resource_version) for e in store.watch(M4DApplication, resource_version="1", timeout=0.1)]
    assert versions[:-1] == sorted(set(versions[:-1]))  # strictly increasing, no duplicates
    store.close()


def test_watch_resumes_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    first = LocalCluster(path)
    first.create(application("a"))
    seen = [e for e in first.watch(M4DApplication, timeout=0.1) if e.object is not None]
    resume_from = seen[-1].resource_version
    first.close()
    second = LocalCluster(path)
    second.create(application("b"))
    events = [e for e in second.watch(M4DApplication, resource_version=resume_from, timeout=0.1) if e.object]
    assert [(e.type, e.object.name if e.object else "") for e in events] == [("ADDED", "b")]
    second.close()


def test_compacted_history_is_gone(tmp_path: Path) -> None:
    store = LocalCluster(tmp_path / "hub.db", history=100)
    app = store.create(application("a"))
    for i in range(600):
        app.metadata.labels = {"i": str(i)}
        app = store.update(app)
    with pytest.raises(GoneError):
        list(store.watch(M4DApplication, resource_version="5", timeout=0.1))
    recent = int(app.metadata.resource_version or 0) - 10
    events = [e for e in store.watch(M4DApplication, resource_version=str(recent), timeout=0.1) if e.object]
    assert len(events) == 10
    store.close()


def test_an_update_of_metadata_alone_still_has_its_metadata_checked(tmp_path: Path) -> None:
    store = LocalCluster(tmp_path / "s.db")
    try:
        app = store.create(application("a"))
        app.metadata.finalizers = ["example.com/mine"]
        app = store.update(app)
        assert app.metadata.finalizers == ["example.com/mine"] and app.metadata.generation == 1
        app.metadata.labels = {"tier": "not a valid label value!"}
        with pytest.raises(InvalidError, match=r"metadata\.labels"):
            store.update(app)
        app.metadata.labels = {}
        info = app.spec.app_info.model_copy(update={"intent": ""})  # past the model's check, as on the wire
        changed = app.model_copy(update={"spec": app.spec.model_copy(update={"app_info": info})})
        with pytest.raises(InvalidError, match=r"spec\.appInfo\.intent"):
            store.update(changed)  # a spec change is checked whole
    finally:
        store.close()
