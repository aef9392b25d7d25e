"""The node: registers itself, keeps its Lease, and runs a worker for every pod the scheduler binds to it.

    python -m tests.testenv.node --kubeconfig FILE --context CTX --name NODE --root DIR --images FILE

The Node object says Ready with room for 110 pods; its Lease in `kube-node-lease` is renewed every 10 s
(the controller manager's node lifecycle controller reads it). Pods bound to the node arrive through a
watch with `fieldSelector=spec.nodeName=NODE` (listed again every RESYNC seconds, so nothing is missed);
each gets its own loopback address as pod IP (127.<octet>.x.y: the whole 127/8 reaches this machine; the
block is the node's alone, see claim_block), so two pods may listen on the same port as on a real
cluster. One difference shows: the API server refuses loopback addresses in Endpoints and EndpointSlices,
so a Service's endpoints stay empty; tests reach a Service's pods through its selector and their Ready
condition (what kube-proxy would pick).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

from m4d.errors import AlreadyExistsError, GoneError, M4DError, NotFoundError
from tests.testenv.node.api import NodeApi, Obj
from tests.testenv.node.container import rfc3339
from tests.testenv.node.pod import NodeContext, PodWorker

log = logging.getLogger("node")

LEASE_SECONDS = 40
RENEW_EVERY = 10.0
RESYNC = 10.0
KUBELET_VERSION = "v1.36.3"


def node_object(name: str, ip: str, octet: int) -> Obj:
    capacity = {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"}
    now = rfc3339()
    condition = [
        ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node.m4d.dev/emulated": "true",
            },
        },
        "spec": {"podCIDR": f"127.{octet}.0.0/16", "podCIDRs": [f"127.{octet}.0.0/16"]},
        "status": {
            "capacity": capacity,
            "allocatable": capacity,
            "conditions": [
                {"type": t, "status": s, "reason": r, "message": m, "lastHeartbeatTime": now, "lastTransitionTime": now}
                for t, s, r, m in condition
            ],
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": name,
                "systemUUID": name,
                "bootID": name,
                "kernelVersion": "",
                "osImage": "m4d node emulator",
                "containerRuntimeVersion": "m4d-node://1",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": KUBELET_VERSION,
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


def service_env(server: str) -> dict[str, str]:
    """What a kubelet gives every container for the `kubernetes` Service: here, the API server itself
    (its ClusterIP would need kube-proxy; the address it leads to is the same server)."""
    url = urlparse(server)
    host, port = url.hostname or "127.0.0.1", str(url.port or 443)
    return {
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": port,
        "KUBERNETES_SERVICE_PORT_HTTPS": port,
        "KUBERNETES_PORT": f"tcp://{host}:{port}",
        f"KUBERNETES_PORT_{port}_TCP": f"tcp://{host}:{port}",
        f"KUBERNETES_PORT_{port}_TCP_PROTO": "tcp",
        f"KUBERNETES_PORT_{port}_TCP_PORT": port,
        f"KUBERNETES_PORT_{port}_TCP_ADDR": host,
    }


@dataclass
class Kubelet:
    context: NodeContext
    octet: int
    workers: dict[str, PodWorker] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)
    _next_ip: int = 1

    @property
    def api(self) -> NodeApi:
        return self.context.api

    @property
    def name(self) -> str:
        return self.context.name

    def register(self) -> None:
        node = node_object(self.name, self.context.ip, self.octet)
        status = node.pop("status")
        with contextlib.suppress(AlreadyExistsError):
            self.api.create("/api/v1/nodes", node)
        self.api.merge_patch(f"/api/v1/nodes/{self.name}/status", {"status": status})
        self.renew_lease()

    def renew_lease(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.name}"
        spec = {
            "holderIdentity": self.name,
            "leaseDurationSeconds": LEASE_SECONDS,
            "renewTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
        }
        try:
            self.api.merge_patch(path, {"spec": spec})
        except NotFoundError:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": "kube-node-lease"},
                "spec": spec,
            }
            self.api.create("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", body)

    def _pod_ip(self) -> str:
        index = self._next_ip
        self._next_ip += 1
        return f"127.{self.octet}.{index // 250}.{index % 250 + 2}"

    def handle(self, event: str, pod: Obj) -> None:
        uid = str(pod["metadata"]["uid"])
        if event == "DELETED":
            if worker := self.workers.pop(uid, None):
                worker.removed()
            self.done.add(uid)
            return
        if worker := self.workers.get(uid):
            worker.update(pod)
            return
        if uid in self.done:
            if pod["metadata"].get("deletionTimestamp"):
                self.api.delete_pod_now(pod)  # its containers are long gone
            return
        worker = PodWorker(self.context, pod, self._pod_ip())
        self.workers[uid] = worker
        worker.start()

    def resync(self) -> str:
        pods, version = self.api.pods_on(self.name)
        present = {str(p["metadata"]["uid"]) for p in pods}
        for uid in list(self.workers):
            if uid not in present:
                self.handle("DELETED", self.workers[uid].pod)
        for pod in pods:
            self.handle("MODIFIED", pod)
        for uid, worker in list(self.workers.items()):
            if worker.finished.is_set():  # deleted for good by its worker
                self.workers.pop(uid)
                self.done.add(uid)
        return version

    def run(self, stop: threading.Event) -> None:
        self.register()
        lease = threading.Thread(target=self._lease_loop, args=(stop,), daemon=True, name="lease")
        lease.start()
        while not stop.is_set():
            try:
                version = self.resync()
                deadline = time.monotonic() + RESYNC
                for event, pod in self.api.watch_pods(self.name, version, stop):
                    self.handle(event, pod)
                    if time.monotonic() > deadline:
                        break
            except GoneError:
                continue
            except M4DError as error:
                log.warning("node %s: %s", self.name, error)
                stop.wait(1.0)
        self.shutdown()

    def _lease_loop(self, stop: threading.Event) -> None:
        while not stop.wait(RENEW_EVERY):
            try:
                self.renew_lease()
            except M4DError as error:
                log.warning("node %s: lease not renewed: %s", self.name, error)

    def shutdown(self) -> None:
        """Stop every pod's processes (the node goes away with the test session)."""
        for worker in self.workers.values():
            for container in [*worker.init_containers, *worker.containers]:
                container.signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for worker in self.workers.values():
            for container in [*worker.init_containers, *worker.containers]:
                container.stop(max(0.0, deadline - time.monotonic()))
