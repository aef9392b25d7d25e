"""The integration tier's servers are real Kubernetes API servers, and three separate clusters."""

from __future__ import annotations

import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.testenv.servers import ApiServer, TestEnv
from tests.testenv.versions import OPA_VERSION

pytestmark = pytest.mark.integration


def _get(api: ApiServer, path: str, token: str | None) -> tuple[int, str]:
    request = urllib.request.Request(api.url + path)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    context = ssl.create_default_context(cafile=str(api.ca_file))
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_all_three_are_ready(testenv: TestEnv) -> None:
    assert [api.name for api in testenv.clusters] == ["hub", "member1", "member2"]
    assert len({api.url for api in testenv.clusters}) == 3
    for api in testenv.clusters:
        status, body = _get(api, "/readyz", api.admin_token)
        assert (status, body) == (200, "ok"), api.name
        status, body = _get(api, "/version", api.admin_token)
        assert status == 200 and '"gitVersion"' in body


def test_objects_on_the_hub_are_absent_on_a_member(
    hub_api: ApiServer, member_apis: tuple[ApiServer, ...], kube_client: Callable[[ApiServer], Any]
) -> None:
    hub = client.CoreV1Api(kube_client(hub_api))
    member = client.CoreV1Api(kube_client(member_apis[0]))
    namespace = f"sep-{uuid.uuid4().hex[:8]}"
    hub.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    hub.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="probe"), data={"cluster": "hub"})
    )
    assert hub.read_namespaced_config_map("probe", namespace).data == {"cluster": "hub"}

    with pytest.raises(ApiException) as missing:
        member.read_namespace(namespace)
    assert missing.value.status == 404
    with pytest.raises(ApiException) as missing:
        member.read_namespaced_config_map("probe", namespace)
    assert missing.value.status == 404


def test_a_token_of_one_cluster_is_rejected_by_another(hub_api: ApiServer, member_apis: tuple[ApiServer, ...]) -> None:
    status, _ = _get(member_apis[0], "/api/v1/namespaces", hub_api.admin_token)
    assert status == 401


def test_unauthenticated_requests_are_refused(hub_api: ApiServer) -> None:
    anonymous, _ = _get(hub_api, "/api/v1/namespaces", token=None)
    assert anonymous in (401, 403)
    bad_token, _ = _get(hub_api, "/api/v1/namespaces", token="not-a-token")
    assert bad_token == 401


@pytest.mark.usefixtures("hub_controller_manager")
def test_namespace_deletion_completes_on_the_hub(hub_api: ApiServer, kube_client: Callable[[ApiServer], Any]) -> None:
    # Finishing a namespace deletion (emptying it, removing the "kubernetes" finalizer) is the namespace
    # controller's job in kube-controller-manager; without it the namespace would stay Terminating forever.
    hub = client.CoreV1Api(kube_client(hub_api))
    namespace = f"gone-{uuid.uuid4().hex[:8]}"
    hub.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    hub.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x")))
    hub.delete_namespace(namespace)
    deadline = time.monotonic() + 60
    while True:
        try:
            phase = hub.read_namespace(namespace).status.phase
        except ApiException as error:
            assert error.status == 404
            return
        assert time.monotonic() < deadline, f"namespace {namespace} still {phase} after 60 s"
        time.sleep(0.5)


def test_opa_is_the_pinned_build(opa_binary: Path) -> None:
    result = subprocess.run([str(opa_binary), "version"], capture_output=True, text=True, check=True, timeout=30)
    assert f"Version: {OPA_VERSION.lstrip('v')}" in result.stdout
