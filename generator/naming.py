"""Names and paths of everything the generator writes. Deterministic, DNS-valid, collision-safe.

Repository layout (the generator owns these three folders; anything else in the repository is left alone):

    clusters/<cluster>/namespace.yaml              the member's Blueprint namespace (keeps the folder in Git)
    clusters/<cluster>/blueprints/<blueprint>.yaml one Blueprint per application placed on the cluster
    argocd/project.yaml                            the AppProject all member Applications belong to
    argocd/clusters/<cluster>.yaml                 the Application that syncs clusters/<cluster>/ to the member
    bootstrap/root.yaml                            the Application that syncs argocd/ into the hub's Argo CD
    bootstrap/argocd-cm-patch.yaml                 the Blueprint health check, merged into argocd-cm once
"""

from __future__ import annotations

import hashlib
import re

from m4d.api.plotter import AppRef

CLUSTERS_DIR = "clusters"
ARGOCD_DIR = "argocd"
BOOTSTRAP_DIR = "bootstrap"
OWNED_PREFIXES = (f"{CLUSTERS_DIR}/", f"{ARGOCD_DIR}/", f"{BOOTSTRAP_DIR}/")

PROJECT_PATH = f"{ARGOCD_DIR}/project.yaml"
ROOT_APP_PATH = f"{BOOTSTRAP_DIR}/root.yaml"
HEALTH_PATCH_PATH = f"{BOOTSTRAP_DIR}/argocd-cm-patch.yaml"

MANAGED_BY = {"app.kubernetes.io/managed-by": "m4d"}
ANNOTATION_APPLICATION = "m4d.dev/application"
ANNOTATION_PLOTTER = "m4d.dev/plotter"
ANNOTATION_CLUSTER = "m4d.dev/cluster"

_MAX_LABEL = 63
_HASH_LEN = 8
_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_DASHES = re.compile(r"-{2,}")


def short_hash(*parts: str, length: int = _HASH_LEN) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:length]


def slug(text: str) -> str:
    """Lowercase, runs of anything but [a-z0-9-] as one '-', no leading or trailing '-'."""
    return _DASHES.sub("-", _NOT_DNS.sub("-", text.lower())).strip("-")


def _with_hash(base: str, *parts: str) -> str:
    room = _MAX_LABEL - _HASH_LEN - 1
    head = base[:room].rstrip("-")
    return f"{head}-{short_hash(*parts)}" if head else short_hash(*parts)


def blueprint_name(app: AppRef) -> str:
    """`<namespace>-<name>-<hash>`, a DNS label.

    The readable part can collide (`a-b`/`c` and `a`/`b-c` both read `a-b-c`), so a hash of the exact
    namespace and name always follows: the name is a function of the application alone, never of what
    else happens to be in the repository.
    """
    return _with_hash(slug(f"{app.namespace}-{app.name}"), app.namespace, app.name)


def instance_name(module_key: str) -> str:
    """A module instance's name inside one Blueprint: the Plotter's module key when it is already a DNS
    label, else its slug plus a hash of the key (so two keys that slug alike stay apart)."""
    readable = slug(module_key)
    if readable == module_key and len(readable) <= _MAX_LABEL:
        return readable
    return _with_hash(readable, module_key)


def cluster_dir(cluster: str) -> str:
    return f"{CLUSTERS_DIR}/{cluster}"


def namespace_path(cluster: str) -> str:
    return f"{cluster_dir(cluster)}/namespace.yaml"


def blueprint_path(cluster: str, blueprint: str) -> str:
    return f"{cluster_dir(cluster)}/blueprints/{blueprint}.yaml"


def application_path(cluster: str) -> str:
    return f"{ARGOCD_DIR}/clusters/{cluster}.yaml"


def argocd_application_name(cluster: str) -> str:
    return f"m4d-{cluster}"


def is_owned(path: str) -> bool:
    return path.startswith(OWNED_PREFIXES)


def cluster_of_path(path: str) -> str | None:
    """The member cluster a generated path belongs to, if any."""
    parts = path.split("/")
    if len(parts) >= 3 and parts[0] == CLUSTERS_DIR:
        return parts[1]
    if len(parts) == 3 and parts[0] == ARGOCD_DIR and parts[1] == "clusters" and parts[2].endswith(".yaml"):
        return parts[2].removesuffix(".yaml")
    return None
