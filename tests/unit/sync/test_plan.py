"""Parsing a cluster folder: a pass parses only files whose content it has not seen, and what it hands
out is never stale."""

from __future__ import annotations

from pathlib import Path

from m4d.cluster.local import LocalCluster
from m4d.controllers.sync.plan import desired_objects, namespace_manifests
from tests.factories import member
from tests.unit.sync.test_local_sync import plotter, tree


def test_a_file_seen_before_is_not_parsed_again_and_a_changed_one_is(tmp_path: Path) -> None:
    hub = LocalCluster(tmp_path / "hub.db", name="hub")
    try:
        hub.create(member("m1"))
        files = tree([plotter("a", "m1"), plotter("b", "m1")], hub)
        changed = tree([plotter("a", "m1", columns=("ssn", "name")), plotter("b", "m1")], hub)
    finally:
        hub.close()
    first = {o.name: o for o in desired_objects(files, "m1")}
    copied = {path: bytes(bytearray(data)) for path, data in files.items()}  # equal content, other objects
    again = {o.name: o for o in desired_objects(copied, "m1")}
    assert len(first) == 2 and all(again[n] is first[n] for n in first)
    after = {o.name: o for o in desired_objects(changed, "m1")}
    edited = {p for p in files if files[p] != changed.get(p)}
    assert len(edited) == 1
    for name, obj in after.items():
        same_file = all(name not in p for p in edited)
        assert (obj is first[name]) == same_file, name
    assert after != first
    assert namespace_manifests(changed, "m1") == namespace_manifests(files, "m1") != []
