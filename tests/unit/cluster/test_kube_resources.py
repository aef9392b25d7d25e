"""REST paths of the platform's kinds on a Kubernetes API server."""

from __future__ import annotations

from m4d.api import M4DApplication, MemberCluster
from m4d.api.registry import kind_info
from m4d.cluster.kube_resources import ResourceType

APPS = ResourceType.of(kind_info(M4DApplication))
MEMBERS = ResourceType.of(kind_info(MemberCluster))
CONFIG_MAPS = ResourceType("", "v1", "configmaps", "ConfigMap", namespaced=True)


def test_namespaced_paths() -> None:
    assert APPS.collection("team-a") == "/apis/app.m4d.dev/v1alpha1/namespaces/team-a/m4dapplications"
    assert APPS.collection(None) == "/apis/app.m4d.dev/v1alpha1/m4dapplications"  # every namespace
    assert APPS.item("nb", None) == "/apis/app.m4d.dev/v1alpha1/namespaces/default/m4dapplications/nb"
    assert APPS.item("nb", "t", "status") == "/apis/app.m4d.dev/v1alpha1/namespaces/t/m4dapplications/nb/status"
    assert APPS.describe("nb", None) == "M4DApplication default/nb"


def test_cluster_scoped_paths_ignore_namespaces() -> None:
    assert MEMBERS.item("eu", "ignored") == "/apis/app.m4d.dev/v1alpha1/memberclusters/eu"
    assert MEMBERS.namespace_of("ignored") is None
    assert MEMBERS.describe("eu") == "MemberCluster eu"


def test_core_group_and_escaping() -> None:
    assert CONFIG_MAPS.api_version == "v1"
    assert CONFIG_MAPS.item("a b/c", "x") == "/api/v1/namespaces/x/configmaps/a%20b%2Fc"
