"""The store contract suite runs against every `Cluster` implementation.

`local` is the embedded SQLite store; `kube` is `KubeCluster` on the real hub API server (its fixture,
`kube_cluster`, is in tests/integration/cluster/fixtures.py and needs the integration tier's servers).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from m4d.cluster.interface import Cluster
from m4d.cluster.local import LocalCluster


@pytest.fixture(params=["local", pytest.param("kube", marks=pytest.mark.integration)])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    if request.param == "local":
        store = LocalCluster(tmp_path / "hub.db", name="hub")
        yield store
        store.close()
    else:
        yield request.getfixturevalue(f"{request.param}_cluster")


@pytest.fixture
def ns(cluster: Cluster) -> str:
    """A fresh namespace per test, so tests on a shared real server do not see each other's objects."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    ensure = getattr(cluster, "ensure_namespace", None)
    if ensure is not None:
        ensure(name)
    return name
