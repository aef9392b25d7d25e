"""A cluster folder in the GitOps repository is input too: anyone with push access may put anything there.
The sync (the embedded stand-in for Argo CD) refuses a folder with an unreadable manifest as a whole,
naming the file and the problem, and applies nothing of it to the member."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from m4d.api.blueprint import Blueprint
from m4d.cluster.local import LocalCluster
from m4d.controllers.sync.local import LocalSync
from tests.badinput import documents as d
from tests.factories import member

GOOD = b"""apiVersion: app.m4d.dev/v1alpha1
kind: Blueprint
metadata: {name: app, namespace: m4d-blueprints}
spec:
  cluster: m1
  plotter: default/app
  application: {name: app, namespace: default}
  modules:
    - {name: read, module: arrow-flight, deployment: {}, assets: [{assetId: finance/tx, capability: read}]}
"""


@dataclass(frozen=True)
class Case:
    id: str
    text: bytes
    says: str


CASES = [
    Case("latin1", GOOD.replace(b"name: app,", b"name: caf\xe9,"), "is not UTF-8 text: byte 0xe9 at line 3"),
    Case("utf16", GOOD.decode().encode("utf-16"), "is not UTF-8 text: byte 0xff"),
    Case("syntax", GOOD + b"  extra: [\n", "not valid YAML at line"),
    Case("duplicate-key", GOOD + b"kind: Blueprint\n", "duplicate key 'kind'"),
    Case("deep", GOOD + b"x: " + b"[" * 150 + b"]" * 150 + b"\n", "nested deeper than 100 levels"),
    Case("alias-bomb", d.alias_bomb(9).encode(), "expands to more than 1,000,000 values"),
    Case("over-3mib", GOOD + b"# " + b"x" * (3 * 1024 * 1024) + b"\n", "larger than 3.0 MiB"),
    Case("schema", GOOD.replace(b"capability: read", b"capability: rd"), "capability: must be one of"),
    Case("not-a-resource", b"- a\n- b\n", "a resource must be a mapping"),
]


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LocalCluster]:
    store = LocalCluster(tmp_path / "hub.db", name="hub")
    store.create(member("m1"))
    yield store
    store.close()


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One repository, a branch per case: its cluster folder holds a good manifest and the case's bad one."""
    root = tmp_path_factory.mktemp("gitops")
    work = root / "work"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    folder = work / "clusters" / "m1"
    folder.mkdir(parents=True)
    (folder / "good.yaml").write_bytes(GOOD)
    commit = ("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m")
    git("add", "-A", cwd=work)
    git(*commit, "good", cwd=work)
    for case in CASES:
        git("checkout", "-q", "-B", case.id, "main", cwd=work)
        (folder / "bad.yaml").write_bytes(case.text)
        git("add", "-A", cwd=work)
        git(*commit, case.id, cwd=work)
    git("clone", "-q", "--bare", str(work), str(root / "gitops.git"), cwd=root)
    return root / "gitops.git"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_sync_refuses_a_folder_with_a_bad_manifest(
    case: Case, repo: Path, hub: LocalCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    member_store = LocalCluster(tmp_path / "m1.db", name="m1")
    caplog.set_level(logging.WARNING, logger="m4d.sync")
    try:
        applied = LocalSync(repo, hub, lambda name: member_store, branch=case.id).sync_once(force=True)
        assert applied == {}  # nothing of the folder, not even its good file
        assert member_store.list(Blueprint).items == []
    finally:
        member_store.close()
    assert "sync of cluster m1" in caplog.text and "clusters/m1/bad.yaml" in caplog.text
    assert case.says in caplog.text, caplog.text
    assert "Traceback" not in caplog.text


CLASSES = {"manifests in a cluster folder": CASES}
