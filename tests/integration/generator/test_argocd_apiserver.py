"""Every object the generator writes is accepted by a real kube-apiserver with the Argo CD CRDs and the
platform's CRDs installed (server-side dry run, strict field validation)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from m4d.cluster.kube import KubeCluster
from m4d.errors import InvalidError
from m4d.generator.argocd import cluster_application
from m4d.generator.config import RenderConfig
from m4d.generator.tree import render_tree
from m4d.generator.validate import validate_argocd
from m4d.generator.yamlfmt import load
from tests.integration.cluster.fixtures import admin_cluster
from tests.testenv.servers import ApiServer
from tests.unit.generator.plans import member, plotter

pytestmark = pytest.mark.integration


@pytest.fixture
def hub(hub_api: ApiServer, argocd_crds: list[str], hub_crds: list[str]) -> Iterator[KubeCluster]:
    cluster = admin_cluster(hub_api)
    yield cluster
    cluster.close()


def test_the_generated_tree_is_accepted_by_a_real_api_server(hub: KubeCluster) -> None:
    suffix = uuid.uuid4().hex[:8]
    argocd_ns, blueprints_ns = f"argocd-{suffix}", f"bp-{suffix}"
    hub.ensure_namespace(argocd_ns)
    clusters = [member("member1", zone="eu-de-1", namespace=blueprints_ns), member("member2", namespace=blueprints_ns)]
    clusters[1].spec.destination.server = "https://10.1.2.3:6443"
    plans = [plotter("app", clusters=("member1", "member2"), assets=2), plotter("other", "team-b")]
    config = RenderConfig("https://git.example.test/m4d/gitops.git", argocd_namespace=argocd_ns)
    result = render_tree(plans, clusters, config)
    assert not result.errors
    kinds: dict[str, int] = {}
    for path, content in sorted(result.rendered.files.items()):
        doc = load(content)
        if doc["kind"] == "Namespace":
            continue  # created for real below: the Blueprints' dry runs need it to exist
        if doc["kind"] == "Blueprint":
            hub.ensure_namespace(doc["metadata"]["namespace"])
        accepted = hub.manifests.create(doc, dry_run=True)
        assert accepted["metadata"]["name"] == doc["metadata"]["name"], path
        kinds[doc["kind"]] = kinds.get(doc["kind"], 0) + 1
    assert kinds == {"AppProject": 1, "Application": 3, "Blueprint": 3, "ConfigMap": 1}
    namespace_doc = load(result.rendered.files["clusters/member1/namespace.yaml"])
    namespace_doc["metadata"]["name"] = f"ns-{suffix}"
    assert hub.manifests.create(namespace_doc, dry_run=True)["kind"] == "Namespace"


def test_an_unknown_field_is_refused_by_the_server_as_by_our_validation(hub: KubeCluster) -> None:
    suffix = uuid.uuid4().hex[:8]
    hub.ensure_namespace(f"argocd-{suffix}")
    config = RenderConfig("https://git.example.test/r.git", argocd_namespace=f"argocd-{suffix}")
    app = cluster_application(config, member("m1"))
    app["spec"]["syncPolicy"]["automated"]["prunne"] = True
    with pytest.raises(InvalidError, match="prunne"):
        hub.manifests.create(app, dry_run=True)
    with pytest.raises(InvalidError, match="prunne"):
        validate_argocd(app)
