"""Module instances on a Kubernetes member: created as workloads, run by the cluster, judged by its status.

`ensure` applies an instance's objects (`workloads.render`) and returns the state the cluster reports
(`judge.py`): the member's controllers and nodes run the pods, never the agent. `watch` wakes the agent
whenever one of its Deployments, Jobs or their pods changes, so readiness and failures reach the hub
within moments, with no polling.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from m4d.api.blueprint import Blueprint, BlueprintModule, ModuleState
from m4d.api.common import Endpoint
from m4d.controllers.agent.judge import Manifest, deployment_state, job_state
from m4d.controllers.agent.workloads import (
    ANNOTATION_PROTOCOL,
    LABEL_BLUEPRINT,
    LABEL_INSTANCE,
    MANAGED_BY,
    PodIdentity,
    Workload,
    WorkloadClient,
    object_name,
    render,
)
from m4d.errors import M4DError
from m4d.runtime.controller import ObjectKey

log = logging.getLogger("m4d.agent")

# What the agent watches on its member: the workloads it made and their pods.
WATCHED = (("apps/v1", "Deployment"), ("batch/v1", "Job"), ("v1", "Pod"))
WATCH_RETRY = 2.0


def service_endpoint(service: Manifest | None, protocol: str, cluster_domain: str) -> Endpoint | None:
    """The in-cluster address of a module's Service: `<name>.<namespace>.svc.<cluster domain>:<port>`."""
    if service is None:
        return None
    ports = (service.get("spec") or {}).get("ports") or []
    if not ports:
        return None
    meta = service["metadata"]
    hostname = f"{meta['name']}.{meta['namespace']}.svc.{cluster_domain}"
    return Endpoint(protocol=protocol, hostname=hostname, port=int(ports[0]["port"]))


@dataclass
class ClusterModules:
    client: WorkloadClient
    cluster_domain: str = "cluster.local"
    identity: PodIdentity | None = None  # the modules' service account and Vault token
    namespace: str | None = None  # the Blueprints' namespace, where the workloads live (None: every one)
    _threads: list[threading.Thread] = field(default_factory=list, init=False, repr=False)

    def ensure(self, bp: Blueprint, module: BlueprintModule, config_text: str, protocol: str) -> ModuleState:
        return self.observe(self.client.apply(render(bp, module, config_text, protocol, self.identity)))

    def observe(self, applied: Workload) -> ModuleState:
        workload = applied.workload
        meta = workload["metadata"]
        labels = meta.get("labels") or {}
        selector = f"{LABEL_BLUEPRINT}={labels[LABEL_BLUEPRINT]},{LABEL_INSTANCE}={labels[LABEL_INSTANCE]}"
        pods = self.client.pods(meta["namespace"], selector)
        if workload["kind"] == "Job":
            return job_state(workload, pods)
        protocol = (meta.get("annotations") or {}).get(ANNOTATION_PROTOCOL, "fybrik-arrow-flight")
        return deployment_state(workload, pods, service_endpoint(applied.service, protocol, self.cluster_domain))

    def remove(self, bp: Blueprint, keep: set[str]) -> None:
        """Delete the objects of the Blueprint's instances not in `keep` (those of its spec and last status)."""
        known = {m.name for m in bp.spec.modules} | (set(bp.status.modules) if bp.status else set())
        for instance in sorted(known - keep):
            self.client.delete(bp.metadata.namespace or "default", object_name(bp.name, instance))

    def watch(self, enqueue: Callable[[ObjectKey], None], stop: threading.Event) -> None:
        """Start one watch thread per watched kind; each change enqueues the owning Blueprint."""
        for api_version, kind in WATCHED:
            thread = threading.Thread(
                target=self._watch, args=(api_version, kind, enqueue, stop), name=f"watch {kind}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _watch(self, api_version: str, kind: str, enqueue: Callable[[ObjectKey], None], stop: threading.Event) -> None:
        selector = f"{MANAGED_BY[0]}={MANAGED_BY[1]}"
        while not stop.is_set():
            try:
                for _, obj in self.client.member.manifests.watch(
                    api_version, kind, stop, namespace=self.namespace, label_selector=selector
                ):
                    meta = obj.get("metadata") or {}
                    blueprint = (meta.get("labels") or {}).get(LABEL_BLUEPRINT)
                    if blueprint:
                        enqueue(ObjectKey(meta.get("namespace"), blueprint))
            except M4DError as exc:
                log.warning("watch of %ss on cluster %s: %s", kind, self.client.member.name, exc)
                stop.wait(WATCH_RETRY)
