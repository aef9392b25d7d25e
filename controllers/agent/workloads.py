"""A module instance as Kubernetes objects on its member: what the agent creates on a real cluster.

`render` is pure: a Blueprint's module instance and its configuration become a ConfigMap holding the
configuration (`module.yaml`) and the module's workload, rendered from the M4DModule's
`deployment.manifest` template (`{name}` is the instance's object name) — a Deployment and a Service for
a `Service` module, a Job for a `Job` module. Without a template, one is made from the deployment's
image and command. Every object is labelled with its Blueprint and instance and owned by the Blueprint.

`WorkloadClient` applies and deletes them on the member (server-side apply, one field manager).
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from m4d.api.blueprint import Blueprint, BlueprintModule
from m4d.api.meta import API_GROUP
from m4d.cluster.interface import Cluster
from m4d.cluster.kube_http import Request
from m4d.errors import InvalidError, NotFoundError, PermanentError

if TYPE_CHECKING:
    from m4d.cluster.kube import KubeCluster

Manifest = dict[str, Any]

CONFIG_KEY = "module.yaml"
CONFIG_DIR = "/etc/m4d"  # where the ConfigMap is mounted (read-only, as Kubernetes mounts them)
WORK_DIR = "/var/run/m4d"  # an emptyDir for files a module writes (status, ready file)
DEFAULT_PORT = 8080
JOB_RETRIES = 2  # a module Job without a template: retried twice, then Failed (Kubernetes' default is six)
LABEL_BLUEPRINT = "m4d.dev/blueprint"
LABEL_INSTANCE = "m4d.dev/instance"
LABEL_MODULE = "app.kubernetes.io/name"
MANAGED_BY = ("app.kubernetes.io/managed-by", "m4d-agent")
ANNOTATION_PROTOCOL = "m4d.dev/protocol"
ANNOTATION_CONFIG = "m4d.dev/config-sha256"
WORKLOAD_KINDS = {"Service": ("apps/v1", "Deployment"), "Job": ("batch/v1", "Job")}
# Every kind an instance may have, deleted in this order (the workload before its configuration).
VAULT_VOLUME = "m4d-vault-token"
OWNED_KINDS = (("batch/v1", "Job"), ("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "ConfigMap"))


@dataclass(frozen=True)
class PodIdentity:
    """The service account module pods run as, and the projected token they log in to Vault with."""

    service_account: str
    audience: str | None = None
    token_seconds: int = 3600
    token_dir: str = "/var/run/secrets/m4d/vault"  # noqa: S105 - a path

    def apply(self, pod: Manifest) -> None:
        pod["serviceAccountName"] = self.service_account
        pod.setdefault("automountServiceAccountToken", False)  # only the Vault token, not an API token
        source: Manifest = {"path": "token", "expirationSeconds": self.token_seconds}
        if self.audience:
            source["audience"] = self.audience
        volumes = [v for v in pod.get("volumes") or [] if v.get("name") != VAULT_VOLUME]
        pod["volumes"] = [*volumes, {"name": VAULT_VOLUME, "projected": {"sources": [{"serviceAccountToken": source}]}}]
        for container in pod.get("containers") or []:
            mounts = [m for m in container.get("volumeMounts") or [] if m.get("name") != VAULT_VOLUME]
            container["volumeMounts"] = [*mounts, {"name": VAULT_VOLUME, "mountPath": self.token_dir, "readOnly": True}]


@dataclass(frozen=True)
class Workload:
    """One module instance's objects: its ConfigMap, its workload (Deployment or Job), maybe a Service."""

    config_map: Manifest
    workload: Manifest
    service: Manifest | None = None

    @property
    def objects(self) -> list[Manifest]:
        return [self.config_map, self.workload, *([self.service] if self.service else [])]


def object_name(blueprint: str, instance: str) -> str:
    """`<blueprint>-<instance>`: a DNS label starting with a letter (a Service name must), at most 56
    characters so `<name>-config` is a label too; long names keep a digest of the whole."""
    name = f"{blueprint}-{instance}"
    if not name[0].isalpha():
        name = f"m-{name}"
    if len(name) > 56:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = f"{name[:47].rstrip('-')}-{digest}"
    return name


def _fill(value: Any, name: str) -> Any:
    """`{name}` in every string of the template (other braces are left as they are)."""
    if isinstance(value, str):
        return value.replace("{name}", name)
    if isinstance(value, list):
        return [_fill(v, name) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, name) for k, v in value.items()}
    return value


def _container_args(command: list[str], port: int) -> list[str]:
    """A local-process command as a container's: the configuration from the mounted ConfigMap, files the
    module writes next to it in the work directory, the container port."""
    out: list[str] = []
    skip = False
    for part in command:
        if skip:
            skip = False
            continue
        if part == "--ready-file":  # a container's readiness is its probe
            skip = True
            continue
        if part == "{config}":
            out.append(f"{CONFIG_DIR}/{CONFIG_KEY}")
        elif part.startswith("{config}"):
            out.append(f"{WORK_DIR}/{CONFIG_KEY}{part.removeprefix('{config}')}")
        else:
            out.append(part.replace("{port}", str(port)).replace("{ready_file}", f"{WORK_DIR}/ready.json"))
    return out


def default_manifest(module: BlueprintModule) -> Manifest:
    """The workload of a module whose M4DModule has no manifest template: its image running its command."""
    deployment = module.deployment
    if not deployment.image or not deployment.command:
        raise PermanentError(
            f"module {module.module} has neither a deployment.manifest nor an image and command to run on a "
            "Kubernetes member"
        )
    port = deployment.port or DEFAULT_PORT
    container: Manifest = {
        "name": module.module,
        "image": deployment.image,
        "args": _container_args(deployment.command, port),
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "work", "mountPath": WORK_DIR},
        ],
    }
    if deployment.kind == "Service":
        container["ports"] = [{"containerPort": port, "name": "api"}]
        container["readinessProbe"] = {"tcpSocket": {"port": port}}
    pod: Manifest = {
        "containers": [container],
        "volumes": [{"name": "config", "configMap": {"name": "{name}-config"}}, {"name": "work", "emptyDir": {}}],
    }
    api_version, kind = WORKLOAD_KINDS[deployment.kind]
    spec: Manifest = {"template": {"spec": pod}}
    if kind == "Deployment":
        spec["replicas"] = 1
    else:
        spec["backoffLimit"] = JOB_RETRIES
    return {"apiVersion": api_version, "kind": kind, "spec": spec}


def _meta(name: str, bp: Blueprint, labels: dict[str, str], extra: Manifest | None = None) -> Manifest:
    owner = {
        "apiVersion": f"{API_GROUP}/v1alpha1",
        "kind": "Blueprint",
        "name": bp.name,
        "uid": bp.metadata.uid or "",
        "controller": True,
    }
    meta: Manifest = {**(extra or {}), "name": name, "namespace": bp.metadata.namespace or "default"}
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    meta["ownerReferences"] = [owner] if bp.metadata.uid else []
    return meta


def render(
    bp: Blueprint, module: BlueprintModule, config_text: str, protocol: str, identity: PodIdentity | None = None
) -> Workload:
    """The objects of one module instance; raises PermanentError for a template that cannot be used.
    With an `identity`, the pods run as its service account with its Vault token mounted."""
    name = object_name(bp.name, module.name)
    labels = {LABEL_BLUEPRINT: bp.name, LABEL_INSTANCE: module.name}
    owned = {**labels, LABEL_MODULE: module.module, MANAGED_BY[0]: MANAGED_BY[1]}
    template = module.deployment.manifest or default_manifest(module)
    expected = WORKLOAD_KINDS[module.deployment.kind]
    if (template.get("apiVersion"), template.get("kind")) != expected:
        raise PermanentError(
            f"module {module.module}: deployment.manifest is {template.get('apiVersion')}/{template.get('kind')}, "
            f"a {module.deployment.kind} module needs {expected[0]}/{expected[1]}"
        )
    workload = _fill(copy.deepcopy(template), name)
    workload["metadata"] = _meta(name, bp, owned, workload.get("metadata"))
    workload["metadata"].setdefault("annotations", {})[ANNOTATION_PROTOCOL] = protocol
    spec = workload.setdefault("spec", {})
    pod_template = spec.setdefault("template", {})
    pod_meta = pod_template.setdefault("metadata", {})
    pod_meta["labels"] = {**(pod_meta.get("labels") or {}), **owned}
    digest = hashlib.sha256(config_text.encode()).hexdigest()
    pod_meta["annotations"] = {**(pod_meta.get("annotations") or {}), ANNOTATION_CONFIG: digest}  # rolls on change
    containers = pod_template.setdefault("spec", {}).get("containers") or []
    if not containers:
        raise PermanentError(f"module {module.module}: deployment.manifest has no container")
    for container in containers:
        if not container.get("image") and module.deployment.image:
            container["image"] = module.deployment.image
    if identity is not None:
        identity.apply(pod_template["spec"])
    if expected[1] == "Deployment":
        spec["selector"] = {"matchLabels": labels}
    else:
        pod_template["spec"].setdefault("restartPolicy", "Never")
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(f"{name}-config", bp, owned),
        "data": {CONFIG_KEY: config_text},
    }
    service = _service(name, bp, owned, labels, containers[0]) if expected[1] == "Deployment" else None
    return Workload(config_map, workload, service)


def _service(
    name: str, bp: Blueprint, owned: dict[str, str], selector: dict[str, str], container: Manifest
) -> Manifest | None:
    ports = [p for p in container.get("ports") or [] if isinstance(p, dict) and p.get("containerPort")]
    if not ports:
        return None
    service_ports = [
        {
            "name": p.get("name") or f"port-{p['containerPort']}",
            "port": p["containerPort"],
            "targetPort": p["containerPort"],
        }
        for p in ports
    ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, bp, owned),
        "spec": {"selector": selector, "ports": service_ports},
    }


_IMMUTABLE = re.compile(r"field is immutable", re.IGNORECASE)


class WorkloadClient:
    """The module instances' objects on one member cluster."""

    def __init__(self, member: KubeCluster, field_manager: str) -> None:
        self.member = member
        self.field_manager = field_manager

    @classmethod
    def for_member(cls, member: Cluster, field_manager: str) -> WorkloadClient | None:
        """A client for a Kubernetes member; None for an embedded store (its modules are plain processes)."""
        from m4d.cluster.kube import KubeCluster  # noqa: PLC0415 - only a real member pays for the client

        return cls(member, field_manager) if isinstance(member, KubeCluster) else None

    def apply(self, wanted: Workload) -> Workload:
        """Apply every object; the answer is what the member stores, status included."""
        config_map = self.member.manifests.apply(wanted.config_map, self.field_manager)
        try:
            workload = self.member.manifests.apply(wanted.workload, self.field_manager)
        except InvalidError as exc:
            if wanted.workload["kind"] != "Job" or not _IMMUTABLE.search(str(exc)):
                raise
            # A Job's pod template cannot change: a new configuration is a new Job.
            meta = wanted.workload["metadata"]
            self._delete(wanted.workload["apiVersion"], "Job", meta["name"], meta.get("namespace"))
            workload = self.member.manifests.apply(wanted.workload, self.field_manager)
        service = self.member.manifests.apply(wanted.service, self.field_manager) if wanted.service else None
        return Workload(config_map, workload, service)

    def _delete(self, api_version: str, kind: str, name: str, namespace: str | None) -> bool:
        """Delete now, dependents in the background: a Job's default (orphan) would wait for a garbage
        collector that a member without controllers never runs."""
        resource = self.member.manifests.resource(api_version, kind)
        what = resource.describe(name, namespace)
        path = resource.item(name, namespace)
        try:
            self.member.api.send(Request("DELETE", path, (("propagationPolicy", "Background"),), what=what))
        except NotFoundError:
            return False
        return True

    def pods(self, namespace: str, selector: str) -> list[Manifest]:
        """The pods of one instance, as the member reports them."""
        return self.member.manifests.list_objects("v1", "Pod", namespace, selector)[0]

    def delete(self, namespace: str, name: str) -> list[str]:
        """Delete every object instance `name` may have; the kinds that were there."""
        gone = []
        for api_version, kind in OWNED_KINDS:
            if self._delete(api_version, kind, f"{name}-config" if kind == "ConfigMap" else name, namespace):
                gone.append(kind)
        return gone
