"""The kubectl commands of docs/kubernetes.md's store part, run as written (a shell pipe, the real kubectl)
against the real hub: the CRDs from `m4d crds`, and a member agent's identity from its RBAC template."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from m4d.api.crd import all_crds
from m4d.cluster.kube_manifests import CRD_API_VERSION
from m4d.cluster.rbac import member_agent_manifests
from tests.integration.cluster.fixtures import admin_cluster
from tests.testenv.locate import locate
from tests.testenv.servers import ApiServer
from tests.testenv.versions import KUBECTL

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


def shell(command: str, api: ApiServer) -> str:
    kubectl = locate(KUBECTL).require()
    path = os.pathsep.join([str(kubectl.parent), str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "KUBECONFIG": str(api.kubeconfig)}
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"{command}:\n{done.stdout}{done.stderr}"
    return done.stdout


def test_crds_from_m4d_crds(hub_api: ApiServer) -> None:
    out = shell("m4d crds | kubectl apply --server-side -f -", hub_api)
    hub = admin_cluster(hub_api)
    try:
        for crd in all_crds():
            name = crd["metadata"]["name"]
            assert f"customresourcedefinition.apiextensions.k8s.io/{name} serverside-applied" in out
            got = hub.manifests.get(CRD_API_VERSION, "CustomResourceDefinition", name)
            assert got["spec"]["names"] == {**got["spec"]["names"], **crd["spec"]["names"]}
            assert [v["name"] for v in got["spec"]["versions"]] == [v["name"] for v in crd["spec"]["versions"]]
    finally:
        hub.close()


def test_member_agent_identity_from_the_template(hub_api: ApiServer) -> None:
    name = f"eu-{uuid.uuid4().hex[:6]}"
    shell(f"sed 's/${{MEMBER}}/{name}/g' deploy/rbac/member-agent.yaml | kubectl apply --server-side -f -", hub_api)
    hub = admin_cluster(hub_api)
    try:
        for doc in member_agent_manifests(name):  # what the template says is what onboarding makes
            meta = doc["metadata"]
            got = hub.manifests.get(doc["apiVersion"], doc["kind"], meta["name"], meta.get("namespace"))
            for field in ("rules", "roleRef", "subjects", "automountServiceAccountToken"):
                assert got.get(field) == doc.get(field), (doc["kind"], field)
    finally:
        for doc in reversed(member_agent_manifests(name)):
            meta = doc["metadata"]
            hub.manifests.delete(doc["apiVersion"], doc["kind"], meta["name"], meta.get("namespace"))
        hub.close()
