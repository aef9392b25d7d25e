"""Argo CD's CRDs (vendored in generator/argocd_crds/) install into the real hub, which then validates Argo CD objects.

The `argocd_crds` fixture (tests/integration/cluster/fixtures.py) is what tests of generated Argo CD
objects use: with it, `KubeCluster.manifests.create(doc, dry_run=True)` checks a document against Argo CD's
own schema on a real API server.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from m4d.cluster.kube import KubeCluster
from m4d.errors import InvalidError
from tests.integration.cluster.fixtures import admin_cluster
from tests.testenv.servers import ApiServer

pytestmark = pytest.mark.integration

ARGO = "argoproj.io/v1alpha1"
REPO = "https://git.example.test/m4d/gitops.git"


@pytest.fixture
def hub(hub_api: ApiServer, argocd_crds: list[str]) -> Iterator[KubeCluster]:
    cluster = admin_cluster(hub_api)
    yield cluster
    cluster.close()


@pytest.fixture
def namespace(hub: KubeCluster) -> str:
    name = f"argocd-{uuid.uuid4().hex[:8]}"
    hub.ensure_namespace(name)
    return name


def project(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": ARGO,
        "kind": "AppProject",
        "metadata": {"name": "m4d", "namespace": namespace},
        "spec": {
            "sourceRepos": [REPO],
            "destinations": [{"server": "https://127.0.0.1:6443", "namespace": "m4d-blueprints"}],
        },
    }


def application_spec() -> dict[str, Any]:
    return {
        "project": "m4d",
        "source": {"repoURL": REPO, "path": "clusters/eu-member", "targetRevision": "main"},
        "destination": {"server": "https://127.0.0.1:6443", "namespace": "m4d-blueprints"},
        "syncPolicy": {"automated": {"prune": True, "selfHeal": True}, "retry": {"limit": 5}},
    }


def application(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": ARGO,
        "kind": "Application",
        "metadata": {"name": "m4d-eu-member", "namespace": namespace},
        "spec": application_spec(),
    }


def application_set(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": ARGO,
        "kind": "ApplicationSet",
        "metadata": {"name": "m4d-members", "namespace": namespace},
        "spec": {
            "generators": [{"list": {"elements": [{"cluster": "eu-member", "url": "https://127.0.0.1:6443"}]}}],
            "template": {
                "metadata": {"name": "m4d-{{cluster}}"},
                "spec": {**application_spec(), "destination": {"server": "{{url}}", "namespace": "m4d-blueprints"}},
            },
        },
    }


def test_the_three_crds_are_served(argocd_crds: list[str]) -> None:
    assert sorted(argocd_crds) == ["applications.argoproj.io", "applicationsets.argoproj.io", "appprojects.argoproj.io"]


def test_valid_objects_are_created(hub: KubeCluster, namespace: str) -> None:
    for doc in (project(namespace), application(namespace), application_set(namespace)):
        created = hub.manifests.create(doc)
        assert created["metadata"]["uid"]
        stored = hub.manifests.get(ARGO, doc["kind"], doc["metadata"]["name"], namespace)
        assert set(doc["spec"]) <= set(stored["spec"]), (doc["kind"], stored["spec"])


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ("destination-missing", "spec.destination"),
        ("retry-limit-not-integer", "spec.syncPolicy.retry.limit"),
        ("unknown-field", "spec.source.repoUrl"),
    ],
)
def test_invalid_application_is_refused_naming_the_field(
    hub: KubeCluster, namespace: str, case: str, field: str
) -> None:
    doc = application(namespace)
    spec = doc["spec"]
    match case:
        case "destination-missing":
            del spec["destination"]
        case "retry-limit-not-integer":
            spec["syncPolicy"]["retry"]["limit"] = "five"
        case "unknown-field":
            spec["source"]["repoUrl"] = spec["source"].pop("repoURL")
    with pytest.raises(InvalidError) as refused:
        hub.manifests.create(doc, dry_run=True)
    assert field in [e.path for e in refused.value.errors], refused.value


def test_invalid_application_set_is_refused(hub: KubeCluster, namespace: str) -> None:
    doc = application_set(namespace)
    del doc["spec"]["template"]
    with pytest.raises(InvalidError) as refused:
        hub.manifests.create(doc, dry_run=True)
    assert "spec.template" in [e.path for e in refused.value.errors], refused.value
