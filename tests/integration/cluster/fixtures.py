"""Fixtures for the real-Kubernetes cluster store: the hub with the platform's CRDs, a `KubeCluster` on it,
and Argo CD's CRDs for validating generated Argo CD objects on a real server.

A pytest plugin (registered by tests/conftest.py), so the contract suite in tests/contract can run
against the real hub as well.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from m4d.api.crd import all_crds
from m4d.cluster.kube import KubeCluster
from m4d.generator.validate import argocd_crds_dir
from tests.testenv.servers import ApiServer

# The Argo CD CRDs the package ships (and validates its generated objects against).
ARGOCD_SCHEMAS = argocd_crds_dir()
FIELD_MANAGER = "m4d-tests"


def admin_cluster(api: ApiServer) -> KubeCluster:
    """A KubeCluster on `api` as its admin (close it when done)."""
    return KubeCluster.from_kubeconfig(context=api.context, config_file=str(api.kubeconfig), name=api.name)


@pytest.fixture(scope="session")
def hub_crds(hub_api: ApiServer) -> list[str]:
    """Install the platform's CRDs into the hub once per session; their names."""
    hub = admin_cluster(hub_api)
    try:
        return hub.manifests.install_crds(all_crds(), FIELD_MANAGER)
    finally:
        hub.close()


@pytest.fixture
def kube_cluster(hub_api: ApiServer, hub_crds: list[str]) -> Iterator[KubeCluster]:
    """The hub as a `Cluster`, with the platform's CRDs served."""
    cluster = admin_cluster(hub_api)
    yield cluster
    cluster.close()


def argocd_crd_documents() -> list[dict[str, Any]]:
    files = sorted(ARGOCD_SCHEMAS.glob("*-crd.yaml"))
    if not files:
        pytest.fail(
            f"the Argo CD CRDs are missing: expected {ARGOCD_SCHEMAS}/*-crd.yaml (vendored in "
            "generator/argocd_crds/, see its SOURCE.txt)",
            pytrace=False,
        )
    return [yaml.safe_load(path.read_text()) for path in files]


@pytest.fixture(scope="session")
def argocd_crds(hub_api: ApiServer) -> list[str]:
    """Install Argo CD's CRDs (Application, ApplicationSet, AppProject) into the hub once; their names."""
    docs = argocd_crd_documents()
    hub = admin_cluster(hub_api)
    try:
        return hub.manifests.install_crds(docs, FIELD_MANAGER)
    finally:
        hub.close()
