"""Where a kind lives in the Kubernetes REST API: its paths, and discovery for kinds the registry lacks."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from urllib.parse import quote

from m4d.api.registry import KindInfo
from m4d.cluster.kube_http import KubeApi, Request
from m4d.errors import NotFoundError


def _segment(value: str) -> str:
    return quote(value, safe="")


@dataclass(frozen=True)
class ResourceType:
    """One REST resource: group/version/plural, the kind it serves and whether it is namespaced."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool

    @classmethod
    def of(cls, info: KindInfo) -> ResourceType:
        return cls(info.group, info.version, info.plural, info.kind, info.namespaced)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def base(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def namespace_of(self, namespace: str | None) -> str | None:
        """The namespace an object lives in: none for cluster-scoped kinds, "default" when unspecified."""
        if not self.namespaced:
            return None
        return namespace or "default"

    def collection(self, namespace: str | None) -> str:
        """The list/create/watch path; a namespaced kind without a namespace means all namespaces."""
        if self.namespaced and namespace:
            return f"{self.base}/namespaces/{_segment(namespace)}/{self.plural}"
        return f"{self.base}/{self.plural}"

    def item(self, name: str, namespace: str | None, subresource: str | None = None) -> str:
        path = f"{self.collection(self.namespace_of(namespace))}/{_segment(name)}"
        return f"{path}/{subresource}" if subresource else path

    def describe(self, name: str | None = None, namespace: str | None = None) -> str:
        """How messages name an object of this type: `Kind namespace/name`."""
        ns = self.namespace_of(namespace)
        if name is None:
            return f"{self.kind}" + (f" in namespace {ns}" if ns and namespace else "")
        return f"{self.kind} {ns}/{name}" if ns else f"{self.kind} {name}"


class Discovery:
    """Resolve apiVersion + kind to a ResourceType through the server's discovery documents (cached)."""

    def __init__(self, api: KubeApi) -> None:
        self.api = api
        self._lock = threading.Lock()
        self._known: dict[tuple[str, str], ResourceType] = {}

    def _fetch(self, api_version: str) -> None:
        group, _, version = api_version.rpartition("/")
        probe = ResourceType(group, version, "", "", namespaced=False)
        listing = self.api.send(Request("GET", probe.base, what=f"API group version {api_version}"))
        for entry in listing.get("resources", []):
            name = str(entry.get("name", ""))
            if "/" in name:  # a subresource such as status or scale
                continue
            kind = str(entry.get("kind", ""))
            self._known[(api_version, kind)] = ResourceType(group, version, name, kind, bool(entry.get("namespaced")))

    def resolve(self, api_version: str, kind: str) -> ResourceType:
        """Raise NotFoundError when the server does not serve the kind (after looking again once)."""
        with self._lock:
            found = self._known.get((api_version, kind))
            if found is None:
                # Not cached, or cached before a CRD was installed: ask the server (again).
                self._fetch(api_version)
                found = self._known.get((api_version, kind))
        if found is None:
            raise NotFoundError(f"cluster {self.api.cluster} does not serve {kind} in {api_version}")
        return found
