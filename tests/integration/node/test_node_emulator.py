"""The node emulator on real API servers, with the real kube-scheduler and kube-controller-manager: pods
are bound, run, probed, restarted and stopped, and the controllers compute Deployment and Job status
from what the node writes, exactly as on a cluster with real nodes."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from m4d.cluster.kube import KubeCluster
from m4d.cluster.kube_http import Request
from m4d.errors import NotFoundError
from tests.integration.cluster.fixtures import admin_cluster
from tests.testenv.servers import TestEnv
from tests.testenv.workloads import TEST_PYTHON, TEST_PYTHON_NONROOT, ClusterNodes

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

Obj = dict[str, Any]
MANAGER = "node-tests"


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout:g}s (last: {last!r})")


@pytest.fixture
def member(testenv: TestEnv, cluster_nodes: ClusterNodes) -> Iterator[tuple[KubeCluster, str]]:
    cluster = admin_cluster(testenv.members[0])
    namespace = f"node-{uuid.uuid4().hex[:6]}"
    cluster.ensure_namespace(namespace)
    yield cluster, namespace
    cluster.manifests.delete("v1", "Namespace", namespace)
    cluster.close()


def pods(cluster: KubeCluster, namespace: str, selector: str) -> list[Obj]:
    listed = cluster.api.send(Request("GET", f"/api/v1/namespaces/{namespace}/pods", (("labelSelector", selector),)))
    return list(listed.get("items") or [])


def condition(obj: Obj, kind: str) -> Obj | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), None)


def python(code: str) -> list[str]:
    return ["python", "-c", code]


HTTP_SERVER = """
import http.server, os, signal, sys
signal.signal(signal.SIGTERM, lambda *_: (open(os.environ['STOPPED'], 'w').write('TERM'), sys.exit(0)))
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (os.environ['GREETING'] + ' from ' + os.environ['HOSTNAME']).encode()
        self.send_response(200); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer((os.environ['POD_IP'], 8080), H).serve_forever()
"""


def deployment(name: str, replicas: int, stopped_dir: str) -> Obj:
    container = {
        "name": "web",
        "image": f"{TEST_PYTHON}:3",
        "command": python(HTTP_SERVER),
        "env": [
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": f"{name}-config", "key": "greeting"}}},
            {"name": "STOPPED", "value": f"{stopped_dir}/$(POD_NAME)"},
        ],
        "ports": [{"containerPort": 8080, "name": "http"}],
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
        "livenessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 2, "initialDelaySeconds": 2},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container], "terminationGracePeriodSeconds": 5},
            },
        },
    }


def available(cluster: KubeCluster, namespace: str, name: str) -> Obj | None:
    got = cluster.manifests.get("apps/v1", "Deployment", name, namespace)
    ready = condition(got, "Available")
    status = got.get("status") or {}
    current = status.get("observedGeneration") == got["metadata"]["generation"]
    fine = ready and ready["status"] == "True" and current and status.get("readyReplicas") == got["spec"]["replicas"]
    return got if fine else None


def test_deployment_becomes_available_and_serves_on_pod_ips(
    member: tuple[KubeCluster, str], cluster_nodes: ClusterNodes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    cluster, ns = member
    stopped = tmp_path_factory.mktemp("stopped")
    cluster.manifests.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "web-config", "namespace": ns},
            "data": {"greeting": "hello"},
        },
        MANAGER,
    )
    cluster.manifests.apply(
        {**deployment("web", 2, str(stopped)), "metadata": {"name": "web", "namespace": ns}}, MANAGER
    )
    got = wait_for(lambda: available(cluster, ns, "web"), 60, "Deployment web Available")
    assert got["status"]["availableReplicas"] == 2
    running = pods(cluster, ns, "app=web")
    assert len(running) == 2
    ips = {p["status"]["podIP"] for p in running}
    assert len(ips) == 2 and all(ip.startswith(cluster_nodes.node("member1").pod_prefix) for ip in ips)
    for pod in running:
        assert pod["spec"]["nodeName"] == "member1-node"  # bound by the real scheduler
        assert pod["status"]["phase"] == "Running"
        assert condition(pod, "Ready")["status"] == "True"  # type: ignore[index]
        # Both listen on port 8080 of their own address.
        import urllib.request  # noqa: PLC0415

        with urllib.request.urlopen(f"http://{pod['status']['podIP']}:8080/", timeout=5) as answer:
            assert answer.read().decode() == f"hello from {pod['metadata']['name']}"
    # Deleting a pod stops its process gracefully (SIGTERM first); the ReplicaSet replaces it.
    victim = running[0]["metadata"]["name"]
    cluster.manifests.delete("v1", "Pod", victim, ns)
    wait_for((stopped / victim).exists, 30, "the deleted pod's process got SIGTERM")
    assert (stopped / victim).read_text() == "TERM"

    def replaced() -> bool:
        names = {p["metadata"]["name"] for p in pods(cluster, ns, "app=web")}
        return victim not in names and len(names) == 2 and bool(available(cluster, ns, "web"))

    wait_for(replaced, 60, "the pod replaced and the Deployment Available again")


JOB_CODE = """
import json, os, pathlib
from kubernetes import client, config
config.load_incluster_config()
sa = pathlib.Path('/var/run/secrets/kubernetes.io/serviceaccount')
namespace = (sa / 'namespace').read_text()
me = client.CoreV1Api().read_namespaced_pod(os.environ['HOSTNAME'], namespace)
report = {'pod': me.metadata.name, 'namespace': namespace, 'settings': open('/etc/settings/app.conf').read(),
          'password': os.environ['PASSWORD'], 'hostname': os.uname().nodename,
          'secret_file': open('/etc/creds/password').read()}
open('/dev/termination-log', 'w').write(json.dumps(report))
"""


def test_job_in_cluster_config_volumes_and_termination_message(member: tuple[KubeCluster, str]) -> None:
    cluster, ns = member
    docs: list[Obj] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"app.conf": "mode=fast"}},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds"},
            "data": {"password": base64.b64encode(b"s3cret").decode()},
        },
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader"}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "reader"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns}],
        },
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "report"},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "serviceAccountName": "reader",
                        "containers": [
                            {
                                "name": "main",
                                "image": TEST_PYTHON,
                                "command": python(JOB_CODE),
                                "env": [
                                    {
                                        "name": "PASSWORD",
                                        "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}},
                                    }
                                ],
                                "volumeMounts": [
                                    {"name": "settings", "mountPath": "/etc/settings"},
                                    {"name": "creds", "mountPath": "/etc/creds", "readOnly": True},
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "settings", "configMap": {"name": "settings"}},
                            {"name": "creds", "secret": {"secretName": "creds"}},
                        ],
                    }
                },
            },
        },
    ]
    for doc in docs:
        cluster.manifests.apply({**doc, "metadata": {**doc["metadata"], "namespace": ns}}, MANAGER)

    def complete() -> Obj | None:
        job = cluster.manifests.get("batch/v1", "Job", "report", ns)
        done = condition(job, "Complete")
        failed = condition(job, "Failed")
        assert not (failed and failed["status"] == "True"), job["status"]
        return job if done and done["status"] == "True" else None

    job = wait_for(complete, 60, "Job report Complete")
    assert job["status"]["succeeded"] == 1
    (pod,) = pods(cluster, ns, "batch.kubernetes.io/job-name=report")
    assert pod["status"]["phase"] == "Succeeded"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0 and terminated["reason"] == "Completed"
    import json  # noqa: PLC0415

    report = json.loads(terminated["message"])
    assert report == {
        "pod": pod["metadata"]["name"],
        "namespace": ns,
        "settings": "mode=fast",
        "password": "s3cret",
        "hostname": pod["metadata"]["name"],
        "secret_file": "s3cret",
    }


def test_failures_are_reported_as_a_kubelet_reports_them(member: tuple[KubeCluster, str]) -> None:
    cluster, ns = member

    def job(name: str, container: Obj) -> Obj:
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "backoffLimit": 0,
                "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", **container}]}},
            },
        }

    cluster.manifests.apply(
        job(
            "fails",
            {
                "image": TEST_PYTHON,
                "command": python("import sys; print('boom'); sys.exit(3)"),
                "terminationMessagePolicy": "FallbackToLogsOnError",
            },
        ),
        MANAGER,
    )
    cluster.manifests.apply(job("no-image", {"image": "registry.example/unknown:1"}), MANAGER)
    cluster.manifests.apply(job("no-binary", {"image": TEST_PYTHON, "command": ["no-such-binary"]}), MANAGER)
    cluster.manifests.apply(
        job("root", {"image": TEST_PYTHON, "command": ["true"], "securityContext": {"runAsNonRoot": True}}), MANAGER
    )
    cluster.manifests.apply(
        job("nonroot", {"image": TEST_PYTHON_NONROOT, "command": ["true"], "securityContext": {"runAsNonRoot": True}}),
        MANAGER,
    )

    def failed(name: str) -> Obj | None:
        got = cluster.manifests.get("batch/v1", "Job", name, ns)
        cond = condition(got, "Failed")
        return got if cond and cond["status"] == "True" else None

    wait_for(lambda: failed("fails"), 60, "Job fails Failed")
    (pod,) = pods(cluster, ns, "batch.kubernetes.io/job-name=fails")
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert pod["status"]["phase"] == "Failed"
    assert (terminated["exitCode"], terminated["reason"], terminated["message"].strip()) == (3, "Error", "boom")

    def waiting(name: str) -> Obj:
        found = pods(cluster, ns, f"batch.kubernetes.io/job-name={name}")
        statuses = found[0].get("status", {}).get("containerStatuses") if found else None
        return (statuses[0]["state"].get("waiting") or {}) if statuses else {}

    wait_for(lambda: waiting("no-image").get("reason") in ("ErrImagePull", "ImagePullBackOff"), 30, "image pull error")
    assert "registry.example/unknown:1" in waiting("no-image")["message"]
    wait_for(lambda: waiting("root").get("reason") == "CreateContainerConfigError", 30, "runAsNonRoot refused")
    assert "runAsNonRoot" in waiting("root")["message"]
    wait_for(
        lambda: cluster.manifests.get("batch/v1", "Job", "nonroot", ns).get("status", {}).get("succeeded"),
        60,
        "a non-root image passes runAsNonRoot",
    )
    wait_for(lambda: failed("no-binary"), 60, "Job no-binary Failed")
    (pod,) = pods(cluster, ns, "batch.kubernetes.io/job-name=no-binary")
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["reason"] == "StartError" and "no-such-binary" in terminated["message"]


def test_liveness_failure_restarts_and_crash_loop_backs_off(member: tuple[KubeCluster, str]) -> None:
    cluster, ns = member
    # Alive while /probe/alive exists in the container's view (a new top-level directory): the exec
    # probe runs inside the container.
    code = (
        "import time, pathlib; p = pathlib.Path('/probe/alive'); p.write_text('1'); time.sleep(3); p.unlink(); "
        "time.sleep(600)"
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "flaky", "namespace": ns},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "main",
                    "image": TEST_PYTHON,
                    "command": python(code),
                    "volumeMounts": [{"name": "work", "mountPath": "/probe"}],
                    "livenessProbe": {
                        "exec": {"command": ["test", "-f", "/probe/alive"]},
                        "periodSeconds": 1,
                        "failureThreshold": 2,
                    },
                }
            ],
            "volumes": [{"name": "work", "emptyDir": {}}],
        },
    }
    cluster.manifests.apply(pod, MANAGER)

    def restarted() -> Obj | None:
        got = cluster.manifests.get("v1", "Pod", "flaky", ns)
        statuses = got.get("status", {}).get("containerStatuses") or [{}]
        return got if statuses[0].get("restartCount", 0) >= 1 else None

    got = wait_for(restarted, 60, "a restart after the liveness probe failed")
    status = got["status"]["containerStatuses"][0]
    assert status["lastState"]["terminated"]["exitCode"] in (137, 143)
    assert got["status"]["phase"] == "Running"
    cluster.manifests.delete("v1", "Pod", "flaky", ns)

    def gone() -> bool:
        try:
            cluster.manifests.get("v1", "Pod", "flaky", ns)
        except NotFoundError:
            return True
        return False

    wait_for(gone, 30, "the pod removed by the node once stopped")
