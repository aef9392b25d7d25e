"""Untyped objects on a Kubernetes API server: CRDs, RBAC, namespaces, anything with apiVersion and kind.

The typed `KubeCluster` serves the platform's own kinds; installing the platform (its CRDs, the member
agents' RBAC, Argo CD's CRDs) and checking what a real server accepts need plain manifests. Writes use
server-side apply or create with strict field validation, so an unknown field is an error, not a
silently dropped line.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from m4d.cluster.kube_errors import status_error
from m4d.cluster.kube_http import APPLY_PATCH, KubeApi, Request
from m4d.cluster.kube_resources import Discovery, ResourceType
from m4d.errors import AlreadyExistsError, GoneError, InvalidError, NotFoundError, PermanentError, TemporaryError

Manifest = dict[str, Any]

STRICT: tuple[tuple[str, str], ...] = (("fieldValidation", "Strict"),)
CRD_API_VERSION = "apiextensions.k8s.io/v1"
# Longest single watch request (the server ends it; the watch resumes from the last resourceVersion).
WATCH_SECONDS = 60


def _identity(doc: Manifest) -> tuple[str, str, str, str | None]:
    meta = doc.get("metadata") or {}
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str) or not isinstance(meta, dict):
        raise InvalidError("manifest", [], header="a manifest needs apiVersion, kind and metadata")
    return api_version, kind, str(meta.get("name") or ""), meta.get("namespace")


class Manifests:
    """Create, apply, read and delete untyped objects on one cluster."""

    def __init__(self, api: KubeApi) -> None:
        self.api = api
        self.discovery = Discovery(api)

    def resource(self, api_version: str, kind: str) -> ResourceType:
        return self.discovery.resolve(api_version, kind)

    def _target(self, doc: Manifest) -> tuple[ResourceType, str, str | None, Manifest]:
        api_version, kind, name, namespace = _identity(doc)
        resource = self.resource(api_version, kind)
        ns = resource.namespace_of(namespace)
        body = {**doc, "metadata": {**doc["metadata"], **({"namespace": ns} if ns else {})}}
        return resource, name, ns, body

    def apply(self, doc: Manifest, field_manager: str, force: bool = True) -> Manifest:
        """Server-side apply: the fields in `doc` become this field manager's, created if need be."""
        resource, name, ns, body = self._target(doc)
        query = (*STRICT, ("fieldManager", field_manager), ("force", "true" if force else "false"))
        path = resource.item(name, ns)
        return self.api.send(Request("PATCH", path, query, body, APPLY_PATCH, resource.describe(name, ns)))

    def replace(self, doc: Manifest) -> Manifest:
        """PUT the object as it is: conditional on its resourceVersion (ConflictError when it moved on)."""
        resource, name, ns, body = self._target(doc)
        path = resource.item(name, ns)
        return self.api.send(Request("PUT", path, STRICT, body, what=resource.describe(name, ns)))

    def apply_all(self, docs: Iterable[Manifest], field_manager: str) -> list[Manifest]:
        return [self.apply(doc, field_manager) for doc in docs]

    def create(self, doc: Manifest, dry_run: bool = False) -> Manifest:
        """Create exactly this object (strict field validation); AlreadyExistsError if the name is taken."""
        resource, name, ns, body = self._target(doc)
        query = STRICT + ((("dryRun", "All"),) if dry_run else ())
        what = resource.describe(name or "(unnamed)", ns)
        return self.api.send(Request("POST", resource.collection(ns), query, body, what=what))

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Manifest:
        resource = self.resource(api_version, kind)
        ns = resource.namespace_of(namespace)
        return self.api.send(Request("GET", resource.item(name, ns), what=resource.describe(name, ns)))

    def delete(
        self, api_version: str, kind: str, name: str, namespace: str | None = None, resource_version: str | None = None
    ) -> bool:
        """Delete if present; True when there was something to delete. With `resource_version`, only that
        version of the object (ConflictError when it changed meanwhile)."""
        resource = self.resource(api_version, kind)
        ns = resource.namespace_of(namespace)
        body = {"preconditions": {"resourceVersion": resource_version}} if resource_version else None
        try:
            self.api.send(Request("DELETE", resource.item(name, ns), body=body, what=resource.describe(name, ns)))
        except NotFoundError:
            return False
        return True

    def list_objects(
        self, api_version: str, kind: str, namespace: str | None = None, label_selector: str | None = None
    ) -> tuple[list[Manifest], str]:
        """Every object (across namespaces when `namespace` is None) and the list's resourceVersion."""
        resource = self.resource(api_version, kind)
        base: tuple[tuple[str, str], ...] = (("limit", "500"),)
        if label_selector:
            base += (("labelSelector", label_selector),)
        items: list[Manifest] = []
        version, token = "", ""
        while True:
            query = base + ((("continue", token),) if token else ())
            what = resource.describe(None, namespace)
            page = self.api.send(Request("GET", resource.collection(namespace), query, what=what))
            items.extend(page.get("items") or [])
            meta = page.get("metadata") or {}
            version = version or str(meta.get("resourceVersion") or "")
            token = str(meta.get("continue") or "")
            if not token:
                return items, version

    def watch(
        self,
        api_version: str,
        kind: str,
        stop: threading.Event,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> Iterator[tuple[str, Manifest]]:
        """("ADDED" | "MODIFIED" | "DELETED", object) until `stop` is set: every object first (as ADDED),
        then changes, resumed across requests and listed again when the server's history is gone."""
        resource = self.resource(api_version, kind)
        version = ""
        while not stop.is_set():
            if not version:
                items, version = self.list_objects(api_version, kind, namespace, label_selector)
                for item in items:
                    yield "ADDED", item
            query = [("watch", "true"), ("resourceVersion", version), ("allowWatchBookmarks", "true"),
                     ("timeoutSeconds", str(WATCH_SECONDS))]  # fmt: skip
            if label_selector:
                query.append(("labelSelector", label_selector))
            what = f"watch of {resource.describe(None, namespace)}"
            stream = self.api.stream(
                Request("GET", resource.collection(namespace), tuple(query), what=what), WATCH_SECONDS + 15
            )
            try:
                for event in stream:
                    body = event.get("object") or {}
                    if event.get("type") == "ERROR":
                        if body.get("code") == 410:  # history gone: list again
                            version = ""
                            break
                        raise status_error(int(body.get("code") or 500), body, what, self.api.cluster)
                    version = str((body.get("metadata") or {}).get("resourceVersion") or version)
                    if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                        yield str(event["type"]), body
                    if stop.is_set():
                        return
            except GoneError:
                version = ""
            finally:
                stream.close()

    def ensure_namespace(self, name: str) -> None:
        with contextlib.suppress(AlreadyExistsError):
            self.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def service_account_token(
        self, namespace: str, service_account: str, seconds: int = 3600, audiences: tuple[str, ...] = ()
    ) -> str:
        """A short-lived token for a service account, from the TokenRequest API (nothing is stored)."""
        resource = self.resource("v1", "ServiceAccount")
        body: Manifest = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": seconds, **({"audiences": list(audiences)} if audiences else {})},
        }
        path = resource.item(service_account, namespace, "token")
        answer = self.api.send(Request("POST", path, (), body, what=f"token for {namespace}/{service_account}"))
        token = (answer.get("status") or {}).get("token")
        if not isinstance(token, str) or not token:
            raise PermanentError(f"cluster {self.api.cluster} issued no token for {namespace}/{service_account}")
        return token

    def install_crds(self, crds: Iterable[Manifest], field_manager: str, timeout: float = 60.0) -> list[str]:
        """Apply CustomResourceDefinitions and wait until the server serves every kind they define."""
        docs = list(crds)
        deadline = time.monotonic() + timeout
        names = [str(self.apply(crd, field_manager)["metadata"]["name"]) for crd in docs]
        self.wait_established(names, max(0.0, deadline - time.monotonic()))
        self.wait_discoverable(docs, deadline)
        return names

    def wait_discoverable(self, crds: Iterable[Manifest], deadline: float) -> None:
        """Established is not yet discoverable: the server's discovery documents follow a moment later."""
        for crd in crds:
            spec = crd["spec"]
            kind = spec["names"]["kind"]
            for version in (v["name"] for v in spec["versions"] if v.get("served", True)):
                api_version = f"{spec['group']}/{version}"
                while True:
                    try:
                        self.discovery.resolve(api_version, kind)
                        break
                    except NotFoundError as exc:
                        if time.monotonic() > deadline:
                            raise TemporaryError(f"{exc} (its CRD is established, but discovery lags)") from exc
                        time.sleep(0.1)

    def wait_established(self, names: Iterable[str], timeout: float = 60.0) -> None:
        pending = list(names)
        deadline = time.monotonic() + timeout
        problems: dict[str, str] = {}
        while pending:
            for name in list(pending):
                crd = self.get(CRD_API_VERSION, "CustomResourceDefinition", name)
                conditions = {c.get("type"): c for c in (crd.get("status") or {}).get("conditions") or []}
                if (conditions.get("Established") or {}).get("status") == "True":
                    pending.remove(name)
                    continue
                refused = conditions.get("NamesAccepted") or {}
                if refused.get("status") == "False":
                    raise PermanentError(f"CRD {name} not accepted on cluster {self.api.cluster}: {refused}")
                problems[name] = str(conditions or "no conditions yet")
            if not pending:
                break
            if time.monotonic() > deadline:
                detail = "; ".join(f"{n}: {problems.get(n)}" for n in pending)
                raise TemporaryError(
                    f"CRDs not established on cluster {self.api.cluster} after {timeout:.0f}s: {detail}"
                )
            time.sleep(0.1)
