"""What runs workloads on the test clusters: a kube-controller-manager for each member (the hub's runs
already), a kube-scheduler for every cluster, and one node emulator per cluster (tests/testenv/node).

Started on demand by the `cluster_nodes` fixture, after the API servers: a test that applies a
Deployment or Job to any of the three clusters sees it scheduled, run as local processes and its status
computed by the controller manager, as on a real cluster.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .locate import locate
from .node.images import Image, Images
from .process import Server
from .servers import TestEnv, start_controller_manager, start_scheduler
from .versions import KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90.0
# The container image of the platform (hub, agent and modules), as the node runs it: the virtualenv's
# `m4d` and `python` first on PATH. Its user is the image's (see the Containerfile).
PROJECT_IMAGES = ("ghcr.io/m4d/m4d", "ghcr.io/m4d/modules")
IMAGE_USER = "10001"
# Images the node emulator's own tests run: a Python interpreter, as root and as a non-root user.
TEST_PYTHON = "registry.m4d.test/python"
TEST_PYTHON_NONROOT = "registry.m4d.test/python-nonroot"


def default_images() -> Images:
    venv_bin = str(Path(sys.executable).parent)
    path = {"PATH": f"{venv_bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    project = [
        Image(repo, cmd=("m4d", "--help"), env=path, working_dir="/", user=IMAGE_USER) for repo in PROJECT_IMAGES
    ]
    tests = [
        Image(TEST_PYTHON, cmd=("python",), env=path),
        Image(TEST_PYTHON_NONROOT, cmd=("python",), env=path, user="10001"),
    ]
    return Images((*project, *tests))


@dataclass(frozen=True)
class Node:
    cluster: str
    name: str
    root: Path
    log: Path
    pod_cidr: str  # 127.OCTET.0.0/16, a block no other node on the machine uses

    @property
    def pod_prefix(self) -> str:
        """`127.OCTET.`: every pod IP of this node starts so."""
        return self.pod_cidr.rsplit(".", 2)[0] + "."

    def pod_dir(self, uid: str) -> Path:
        return self.root / "pods" / uid

    def container_log(self, uid: str, container: str, restart: int = 0) -> Path:
        return self.pod_dir(uid) / "containers" / container / f"{restart}.log"


@dataclass(frozen=True)
class ClusterNodes:
    nodes: dict[str, Node]  # by cluster name
    images: Images
    logs: dict[str, Path]

    def node(self, cluster: str) -> Node:
        return self.nodes[cluster]


def _start_node(env: TestEnv, cluster: str, images_file: Path, deadline: float, backoff: float) -> tuple[Server, Node]:
    api = env.cluster(cluster)
    root = env.workdir / "nodes" / cluster
    root.mkdir(parents=True)
    name = f"{cluster}-node"
    argv = [
        sys.executable,
        "-m",
        "tests.testenv.node",
        "--kubeconfig",
        str(api.kubeconfig),
        "--context",
        api.context,
        "--name",
        name,
        "--root",
        str(root),
        "--images",
        str(images_file),
        "--backoff",
        str(backoff),
    ]
    server = Server(f"node {name}", argv, root / "node.log", cwd=REPO)
    while not (root / "ready").exists():
        if server.proc.poll() is not None:
            raise server.failure(f"exited with status {server.proc.returncode} before it registered its Node")
        if time.monotonic() > deadline:
            raise server.failure("did not register its Node in time")
        time.sleep(0.1)
    pod_cidr = (root / "ready").read_text().split()[1]
    return server, Node(cluster, name, root, server.log, pod_cidr)


@contextmanager
def running_nodes(env: TestEnv, images: Images | None = None, backoff: float = 2.0) -> Iterator[ClusterNodes]:
    """Controllers, schedulers and nodes for every cluster of `env`; stopped (pods and all) on exit.

    `backoff` is the nodes' crash-loop back-off base (a kubelet's is 10 s; shorter keeps restart tests brief).
    """
    if env.serving is None:
        raise RuntimeError("the test environment has no serving PKI")
    kcm = locate(KUBE_CONTROLLER_MANAGER).require()
    scheduler = locate(KUBE_SCHEDULER).require()
    images = images or default_images()
    deadline = time.monotonic() + START_TIMEOUT
    with ExitStack() as stack:
        servers: list[Server] = []

        def stop_all() -> None:
            for server in reversed(servers):  # nodes first: their pods go before the controllers
                server.stop()

        stack.callback(stop_all)
        for member in env.members:
            servers.append(start_controller_manager(kcm, member, env.workdir, env.serving, deadline))
        for api in env.clusters:
            servers.append(start_scheduler(scheduler, api, env.workdir, deadline))
        images_file = images.dump(env.workdir / "images.json")
        nodes: dict[str, Node] = {}
        for api in env.clusters:
            server, node = _start_node(env, api.name, images_file, deadline, backoff)
            servers.append(server)
            nodes[api.name] = node
        yield ClusterNodes(nodes, images, {server.name: server.log for server in servers})


def service_address(manifests: Any, hostname: str, port: int) -> tuple[str, int]:
    """The test clusters' stand-in for cluster DNS and kube-proxy: `<service>.<namespace>.svc...:<port>` →
    the address of a ready pod behind that Service (its selector, its Ready condition, the target port).
    `manifests` is a `KubeCluster.manifests` of the cluster that holds the Service."""
    name, namespace = hostname.split(".")[:2]
    service = manifests.get("v1", "Service", name, namespace)
    spec = service["spec"]
    entry = next(p for p in spec["ports"] if int(p["port"]) == port)
    target = entry.get("targetPort", port)
    selector = ",".join(f"{k}={v}" for k, v in sorted(spec["selector"].items()))
    pods, _ = manifests.list_objects("v1", "Pod", namespace, selector)
    for pod in pods:
        conditions = {c["type"]: c["status"] for c in (pod.get("status") or {}).get("conditions") or []}
        if conditions.get("Ready") == "True" and not pod["metadata"].get("deletionTimestamp"):
            if isinstance(target, str):  # a named port of the pod's container
                ports = [p for c in pod["spec"]["containers"] for p in c.get("ports") or []]
                target = next(int(p["containerPort"]) for p in ports if p.get("name") == target)
            return str(pod["status"]["podIP"]), int(target)
    raise LookupError(f"no ready pod behind Service {namespace}/{name}")
