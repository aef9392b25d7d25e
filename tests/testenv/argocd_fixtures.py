"""The `argocd` fixture: real Argo CD on the test hub, one per test module that asks for it.

A pytest plugin (registered by tests/conftest.py). Argo CD caches every resource of every cluster it syncs
to, so it runs only while a module that needs it runs; at the end its Applications, projects and cluster
Secrets are removed (each test module cleans what it had Argo CD deploy on the shared members). If Argo CD
cannot start, every test that asks fails with the reason: never a skip.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import ExitStack
from urllib.parse import urlsplit

import pytest

from m4d.api.crd import all_crds
from m4d.cluster.kube_manifests import CRD_API_VERSION
from m4d.errors import M4DError, NotFoundError
from tests.integration.cluster.fixtures import FIELD_MANAGER, admin_cluster
from tests.testenv.argocd import ArgoCD, running
from tests.testenv.netns import NamespaceError
from tests.testenv.process import ServerStartError
from tests.testenv.servers import TestEnv
from tests.testenv.workloads import ClusterNodes


@pytest.fixture(scope="module")
def argocd(
    testenv: TestEnv, argocd_crds: list[str], cluster_nodes: ClusterNodes, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ArgoCD]:
    """Argo CD running against the hub, able to reach every cluster of the test environment. The members
    run their controller managers (`cluster_nodes`): Argo CD prunes with foreground deletion, which the
    garbage collector completes, and offboarding deletes a namespace, which the namespace controller does."""
    ports = [int(urlsplit(api.url).port or 443) for api in testenv.clusters]
    with ExitStack() as stack:
        hub = admin_cluster(testenv.hub)
        stack.callback(hub.close)
        problem = ""
        try:
            workdir = tmp_path_factory.mktemp("argocd")
            started = stack.enter_context(running(testenv.hub, ports, workdir, hub))
        except (FileNotFoundError, ServerStartError, NamespaceError, M4DError) as error:
            problem = f"Argo CD could not start: {error}"
        if problem:
            pytest.fail(problem, pytrace=False)
        yield started
        started.remove_all()


@pytest.fixture(scope="module")
def member_crds(testenv: TestEnv) -> Iterator[None]:
    """The platform's CRDs on every member (Argo CD applies Blueprints there); those added here go again."""
    clusters = {api.name: admin_cluster(api) for api in testenv.members}
    added: dict[str, list[str]] = {}
    try:
        for name, cluster in clusters.items():
            missing = []
            for crd in all_crds():
                try:
                    cluster.manifests.get(CRD_API_VERSION, "CustomResourceDefinition", crd["metadata"]["name"])
                except NotFoundError:
                    missing.append(crd["metadata"]["name"])
            added[name] = missing
            cluster.manifests.install_crds(all_crds(), FIELD_MANAGER)
        yield
    finally:
        for name, cluster in clusters.items():
            for crd_name in added.get(name, []):
                with contextlib.suppress(M4DError):
                    cluster.manifests.delete(CRD_API_VERSION, "CustomResourceDefinition", crd_name)
            cluster.close()
