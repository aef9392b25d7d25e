"""Module instances run by a real member cluster (scheduler, controller manager, node emulator): the
agent's view of them is only what the cluster reports."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from m4d.api.blueprint import ModuleState
from m4d.api.common import Interface
from m4d.controllers.agent.cluster_modules import ClusterModules
from m4d.controllers.agent.workloads import WorkloadClient, object_name
from m4d.credentials.source import CredentialSource
from m4d.errors import NotFoundError
from m4d.modules.config import ClientGrant, from_blueprint
from tests.integration.cluster.fixtures import admin_cluster
from tests.testenv.servers import TestEnv
from tests.testenv.workloads import ClusterNodes, service_address
from tests.unit.agent.test_workloads import blueprint, instance

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

NAMESPACE = "m4d-cluster-modules"


@pytest.fixture
def modules(testenv: TestEnv, cluster_nodes: ClusterNodes) -> Iterator[ClusterModules]:
    member = admin_cluster(testenv.members[0])
    member.ensure_namespace(NAMESPACE)
    client = WorkloadClient.for_member(member, field_manager="agent-test")
    assert client is not None
    yield ClusterModules(client)
    member.close()


def wait_state(check: object, timeout: float, what: str) -> ModuleState:
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = check()  # type: ignore[operator]
        if state is not None and state.phase != "Pending":
            return state  # type: ignore[no-any-return]
        time.sleep(0.3)
    raise AssertionError(f"{what}: still {state} after {timeout:g}s")


def test_a_module_becomes_ready_from_its_deployment_and_failures_quote_the_pod(
    modules: ClusterModules, tmp_path: Path
) -> None:
    data = tmp_path / "tx.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3]}), data)
    flight = instance("arrow-flight")
    flight.assets[0].source.connection.properties["path"] = str(data)  # type: ignore[union-attr]
    flight.assets[0].api = Interface(protocol="fybrik-arrow-flight")
    broken = instance("arrow-flight", "broken")  # an image no node can pull
    assert broken.deployment.manifest is not None
    broken.deployment.manifest["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example/none:1"
    bp = blueprint(flight, broken)
    bp.metadata.name = f"bp-{uuid.uuid4().hex[:8]}"
    bp.metadata.namespace = NAMESPACE
    bp.metadata.uid = None  # no owner: this Blueprint is not stored
    grant = ClientGrant.for_token("default/nb", "t0ken-for-nb", ["finance/tx"])
    config = from_blueprint(
        flight, credentials=CredentialSource(kind="file", path=str(tmp_path / "none.yaml")), clients=[grant],
        host="0.0.0.0",  # the pod's own network
    ).dump()  # fmt: skip

    state = wait_state(lambda: modules.ensure(bp, flight, config, "fybrik-arrow-flight"), 90, "the module Ready")
    assert state.phase == "Ready", state.message
    assert state.endpoint is not None
    name = object_name(bp.name, flight.name)
    assert state.endpoint.hostname == f"{name}.{NAMESPACE}.svc.cluster.local" and state.endpoint.port == 8080
    host, port = service_address(modules.client.member.manifests, state.endpoint.hostname, 8080)
    from m4d.demo.reader import read_asset  # noqa: PLC0415

    endpoint = state.endpoint.model_copy(update={"hostname": host, "port": port})
    assert read_asset(endpoint, "t0ken-for-nb", "finance/tx").table.num_rows == 3

    # The broken one fails, and the message says why in the pod's words.
    failed = wait_state(lambda: modules.ensure(bp, broken, config, "fybrik-arrow-flight"), 60, "the module Failed")
    assert failed.phase == "Failed"
    assert "ErrImagePull" in (failed.message or "") or "ImagePullBackOff" in (failed.message or "")
    assert "registry.example/none:1" in (failed.message or "")

    modules.remove(bp, keep=set())
    for instance_name in ("read", "broken"):
        with pytest.raises(NotFoundError):
            modules.client.member.manifests.get("apps/v1", "Deployment", object_name(bp.name, instance_name), NAMESPACE)
