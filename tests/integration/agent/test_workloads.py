"""Module instances' objects on a real member API server: what it accepts, stores and lets go.

Deletion must not wait for a garbage collector: a member may run none (these servers do not, unless a
test asked for `cluster_nodes`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from m4d.cluster.kube import KubeCluster
from m4d.controllers.agent.workloads import WorkloadClient, object_name, render
from m4d.errors import InvalidError, NotFoundError
from tests.integration.cluster.fixtures import admin_cluster
from tests.testenv.servers import ApiServer
from tests.unit.agent.test_workloads import CONFIG, blueprint, instance

pytestmark = pytest.mark.integration

NAMESPACE = "m4d-workloads-test"


@pytest.fixture
def client(member_apis: tuple[ApiServer, ...]) -> Iterator[WorkloadClient]:
    member = admin_cluster(member_apis[0])
    member.ensure_namespace(NAMESPACE)
    found = WorkloadClient.for_member(member, field_manager="agent-test")
    assert found is not None
    yield found
    member.close()


def _blueprint_here(*modules):  # type: ignore[no-untyped-def]
    bp = blueprint(*modules)
    bp.metadata.name = f"bp-{uuid.uuid4().hex[:8]}"
    bp.metadata.namespace = NAMESPACE
    return bp


def test_apply_update_and_delete_on_a_real_member(client: WorkloadClient) -> None:
    flight, copier = instance("arrow-flight"), instance("implicit-copy", "copy")
    bp = _blueprint_here(flight, copier)
    served = client.apply(render(bp, flight, CONFIG, "fybrik-arrow-flight"))
    job = client.apply(render(bp, copier, CONFIG, ""))
    # The server accepted the rendered objects as they are and defaulted the rest.
    assert served.workload["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"]
    assert served.service is not None and served.service["spec"]["clusterIP"]
    assert job.workload["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert served.config_map["data"]["module.yaml"] == CONFIG

    # A new configuration: the Deployment's template changes in place; a Job's cannot, so it is replaced.
    again = client.apply(render(bp, flight, CONFIG + "# new\n", "fybrik-arrow-flight"))
    assert again.workload["metadata"]["uid"] == served.workload["metadata"]["uid"]
    assert again.workload["metadata"]["generation"] == served.workload["metadata"]["generation"] + 1
    replaced = client.apply(render(bp, copier, CONFIG + "# new\n", ""))
    assert replaced.workload["metadata"]["uid"] != job.workload["metadata"]["uid"]
    assert replaced.config_map["data"]["module.yaml"] == CONFIG + "# new\n"

    assert client.delete(NAMESPACE, object_name(bp.name, flight.name)) == ["Deployment", "Service", "ConfigMap"]
    assert client.delete(NAMESPACE, object_name(bp.name, copier.name)) == ["Job", "ConfigMap"]
    member: KubeCluster = client.member
    for api_version, kind in (("batch/v1", "Job"), ("apps/v1", "Deployment")):  # gone, not held for a collector
        with pytest.raises(NotFoundError):
            member.manifests.get(
                api_version, kind, object_name(bp.name, "copy" if kind == "Job" else "read"), NAMESPACE
            )
    assert client.delete(NAMESPACE, object_name(bp.name, flight.name)) == []


def test_a_template_the_server_refuses_names_the_field(client: WorkloadClient) -> None:
    flight = instance("arrow-flight")
    assert flight.deployment.manifest is not None
    flight.deployment.manifest["spec"]["replicas"] = -1
    bp = _blueprint_here(flight)
    with pytest.raises(InvalidError) as refused:
        client.apply(render(bp, flight, CONFIG, ""))
    assert "spec.replicas" in str(refused.value)
    client.delete(NAMESPACE, object_name(bp.name, flight.name))
