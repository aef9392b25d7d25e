"""A container's environment, as a kubelet assembles it: the image's, the API server's service
variables, `envFrom`, then `env` (values, downward API, ConfigMap and Secret keys), with `$(VAR)`
references expanded in values, command and arguments."""

from __future__ import annotations

import base64
import re
from typing import Any

from m4d.errors import M4DError, NotFoundError
from tests.testenv.node.api import NodeApi, Obj

_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


class EnvError(Exception):
    """The environment cannot be built (a missing key): CreateContainerConfigError."""


def expand(value: str, env: dict[str, str]) -> str:
    """`$(VAR)` → its value when VAR is defined (else left as is); `$$` → `$` (the kubelet's rules)."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _REFERENCE.sub(one, value)


def field_value(pod: Obj, path: str, node_ip: str, pod_ip: str) -> str:
    """A downward API field; the addresses are the node's own (the stored status may not have them yet)."""
    meta, spec = pod["metadata"], pod["spec"]
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.hostIP": node_ip,
        "status.hostIPs": node_ip,
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
    }
    if path in simple:
        return str(simple[path] or "")
    if path in ("metadata.labels", "metadata.annotations"):
        values = meta.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(values.items()))
    if match := _SUBSCRIPT.match(path):
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    raise EnvError(f"field path {path!r} is not supported")


def _key(api: NodeApi, namespace: str, kind: str, ref: dict[str, Any]) -> str | None:
    plural = "configmaps" if kind == "ConfigMap" else "secrets"
    try:
        obj = api.get(f"/api/v1/namespaces/{namespace}/{plural}/{ref['name']}")
    except NotFoundError:
        if ref.get("optional"):
            return None
        raise EnvError(f'{kind.lower()} "{ref["name"]}" not found') from None
    except M4DError as error:
        raise EnvError(str(error)) from None
    data = obj.get("data") or {}
    if ref["key"] not in data:
        if ref.get("optional"):
            return None
        raise EnvError(f"couldn't find key {ref['key']} in {kind} {namespace}/{ref['name']}")
    value = data[ref["key"]]
    return base64.b64decode(value).decode() if kind == "Secret" else str(value)


def _all_keys(api: NodeApi, namespace: str, kind: str, ref: dict[str, Any]) -> dict[str, str]:
    plural = "configmaps" if kind == "ConfigMap" else "secrets"
    try:
        obj = api.get(f"/api/v1/namespaces/{namespace}/{plural}/{ref['name']}")
    except NotFoundError:
        if ref.get("optional"):
            return {}
        raise EnvError(f'{kind.lower()} "{ref["name"]}" not found') from None
    data = obj.get("data") or {}
    if kind == "Secret":
        return {k: base64.b64decode(v).decode() for k, v in data.items()}
    return {k: str(v) for k, v in data.items()}


def container_env(
    api: NodeApi,
    pod: Obj,
    container: dict[str, Any],
    image_env: dict[str, str],
    service_env: dict[str, str],
    node_ip: str,
    pod_ip: str,
) -> dict[str, str]:
    namespace = pod["metadata"]["namespace"]
    env = {**image_env, "HOSTNAME": pod["spec"].get("hostname") or pod["metadata"]["name"], **service_env}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix") or ""
        if "configMapRef" in source:
            values = _all_keys(api, namespace, "ConfigMap", source["configMapRef"])
        else:
            values = _all_keys(api, namespace, "Secret", source["secretRef"])
        env.update({prefix + k: v for k, v in values.items()})
    for item in container.get("env") or []:
        name = item["name"]
        if "valueFrom" not in item:
            env[name] = expand(str(item.get("value") or ""), env)
            continue
        source = item["valueFrom"]
        value: str | None
        if "fieldRef" in source:
            value = field_value(pod, source["fieldRef"]["fieldPath"], node_ip, pod_ip)
        elif "configMapKeyRef" in source:
            value = _key(api, namespace, "ConfigMap", source["configMapKeyRef"])
        elif "secretKeyRef" in source:
            value = _key(api, namespace, "Secret", source["secretKeyRef"])
        else:
            raise EnvError(f"env {name}: {sorted(source)} is not supported by this node")
        if value is not None:
            env[name] = value
    return env
