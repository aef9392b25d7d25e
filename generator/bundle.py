"""The member install bundle: what a cluster admin applies to a member cluster once, by hand.

CRDs, the `m4d-system` namespace, the agent's RBAC and Deployment, and the hub connection Secret: a
kubeconfig with two contexts, `hub` (the agent's identity on the hub, where it writes its reports and
heartbeats) and `member` (the in-cluster service account). The Secret is why the bundle is written to
a file or stdout for the admin, and never into the GitOps repository.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from m4d import __version__
from m4d.api.crd import all_crds
from m4d.api.strict import load_yaml_file
from m4d.errors import FieldError, InvalidError
from m4d.generator.naming import MANAGED_BY
from m4d.generator.yamlfmt import dump

NAMESPACE = "m4d-system"
AGENT = "m4d-agent"
CONNECTION_SECRET = "m4d-hub-connection"  # noqa: S105 - a Secret's name
DEFAULT_IMAGE = f"m4d:{__version__}"
_SA = "/var/run/secrets/kubernetes.io/serviceaccount"
_LABELS = {**MANAGED_BY, "app.kubernetes.io/name": AGENT}


def _inline(entry: dict[str, Any], key: str, base: Path) -> None:
    """Kubeconfig file references (certificate-authority: /path) become inline data: the Secret is all
    the agent gets."""
    if key in entry:
        path = Path(str(entry.pop(key)))
        path = path if path.is_absolute() else base / path
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidError(f"kubeconfig {base}", [FieldError(key, f"{path}: {exc.strerror or exc}")]) from None
        entry[f"{key}-data"] = base64.b64encode(data).decode()


def hub_kubeconfig(path: Path, context: str | None = None) -> dict[str, Any]:
    """One context of a kubeconfig file, as the `hub` context of the agent's kubeconfig."""
    config = load_yaml_file(path, source=f"kubeconfig {path}") or {}
    try:
        name = context or config.get("current-context")
        by_name = {
            section: {e["name"]: e for e in config.get(section) or []} for section in ("contexts", "clusters", "users")
        }
        if name not in by_name["contexts"]:
            raise InvalidError(f"kubeconfig {path}", [FieldError("contexts", f"no context {name!r}")])
        ctx = by_name["contexts"][name]["context"]
        cluster = dict(by_name["clusters"][ctx["cluster"]]["cluster"])
        user = dict(by_name["users"][ctx["user"]]["user"]) if ctx.get("user") else {}
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        # A file that is YAML but not a kubeconfig: say what was missing where it was looked for.
        raise InvalidError(f"kubeconfig {path}", [FieldError("", f"not a usable kubeconfig (missing {exc})")]) from None
    _inline(cluster, "certificate-authority", path.parent)
    _inline(user, "client-certificate", path.parent)
    _inline(user, "client-key", path.parent)
    return {"cluster": cluster, "user": user}


def agent_kubeconfig(hub: dict[str, Any]) -> dict[str, Any]:
    member_cluster = {"server": "https://kubernetes.default.svc", "certificate-authority": f"{_SA}/ca.crt"}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "hub", "cluster": hub["cluster"]}, {"name": "member", "cluster": member_cluster}],
        "users": [{"name": "hub", "user": hub["user"]}, {"name": "member", "user": {"tokenFile": f"{_SA}/token"}}],
        "contexts": [
            {"name": "hub", "context": {"cluster": "hub", "user": "hub"}},
            {"name": "member", "context": {"cluster": "member", "user": "member"}},
        ],
        "current-context": "member",
    }


def _rbac() -> list[dict[str, Any]]:
    rules = [
        {
            "apiGroups": ["app.m4d.dev"],
            "resources": ["blueprints"],
            "verbs": ["get", "list", "watch", "update", "patch"],
        },
        {"apiGroups": ["app.m4d.dev"], "resources": ["blueprints/status"], "verbs": ["get", "update", "patch"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]},
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["*"]},
        {"apiGroups": [""], "resources": ["services", "configmaps", "secrets"], "verbs": ["*"]},
        {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    ]
    meta = {"name": AGENT, "labels": dict(_LABELS)}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {**meta, "namespace": NAMESPACE}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta, "rules": rules},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": AGENT},
            "subjects": [{"kind": "ServiceAccount", "name": AGENT, "namespace": NAMESPACE}],
        },
    ]


def _deployment(cluster: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": AGENT, "namespace": NAMESPACE, "labels": dict(_LABELS)},
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},  # one agent per member at any time
            "selector": {"matchLabels": {"app.kubernetes.io/name": AGENT}},
            "template": {
                "metadata": {"labels": dict(_LABELS)},
                "spec": {
                    "serviceAccountName": AGENT,
                    "containers": [
                        {
                            "name": "agent",
                            "image": image,
                            "args": [
                                "--kube-context",
                                "hub",
                                "agent",
                                "--cluster",
                                cluster,
                                "--member-kube-context",
                                "member",
                            ],
                            "env": [{"name": "KUBECONFIG", "value": "/etc/m4d/hub/kubeconfig"}],
                            "volumeMounts": [{"name": "hub-connection", "mountPath": "/etc/m4d/hub", "readOnly": True}],
                            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}},
                            "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True},
                        }
                    ],
                    "volumes": [{"name": "hub-connection", "secret": {"secretName": CONNECTION_SECRET}}],
                },
            },
        },
    }


def member_bundle(cluster: str, hub: dict[str, Any], image: str = DEFAULT_IMAGE) -> dict[str, bytes]:
    """{file name: YAML} to `kubectl apply -f` on the member, in order."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": dict(MANAGED_BY)}}
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": CONNECTION_SECRET, "namespace": NAMESPACE, "labels": dict(_LABELS)},
        "stringData": {"kubeconfig": yaml.safe_dump(agent_kubeconfig(hub), sort_keys=False), "cluster": cluster},
    }
    return {
        "00-crds.yaml": b"---\n".join(dump(c) for c in all_crds()),
        "10-namespace.yaml": dump(namespace),
        "20-rbac.yaml": b"---\n".join(dump(d) for d in _rbac()),
        "30-hub-connection.yaml": dump(secret),
        "40-agent.yaml": dump(_deployment(cluster, image)),
    }
