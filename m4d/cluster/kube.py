"""`KubeCluster`: the `Cluster` interface on a real Kubernetes API server.

The platform's kinds are CustomResources (`m4d crds`); objects go out as `obj.wire()` and come back through
the kind's pydantic model, so the rest of the platform sees the same typed values as with the embedded
store. Writes use strict field validation (an unknown field is an error, as in the embedded store),
updates are conditional on the resourceVersion the object carries (HTTP 409 -> ConflictError), `apply`
is server-side apply, and status is written through the status subresource.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException
from pydantic import ValidationError

from m4d.api.meta import Resource
from m4d.api.registry import kind_info
from m4d.api.strict import OBJECT_BYTES
from m4d.cluster.interface import Cluster, R, ResourceList, WatchStream
from m4d.cluster.kube_http import APPLY_PATCH, KubeApi, Request
from m4d.cluster.kube_manifests import STRICT, Manifests
from m4d.cluster.kube_resources import ResourceType
from m4d.cluster.kube_watch import KubeWatch
from m4d.cluster.selectors import parse_selector
from m4d.errors import ConflictError, FieldError, InvalidError, PermanentError

# Pages of a list; the resourceVersion of the first page is the list's.
LIST_PAGE = 500
# Attempts of an update that carries no resourceVersion (read the current one, write, retry on a race).
UNCONDITIONAL_ATTEMPTS = 5
# Every check of a write, nothing stored.
DRY_RUN = (("dryRun", "All"),)
# Connections kept per cluster: every open watch holds one.
POOL_SIZE = 32


class KubeCluster(Cluster):
    """A cluster reached through `api_client`, called `name` in messages."""

    def __init__(self, api_client: client.ApiClient, name: str) -> None:
        self.name = name
        self.api = KubeApi(api_client, name)
        self.requests = self.api.requests
        self.manifests = Manifests(self.api)

    # -- connecting -------------------------------------------------------------------------------

    @classmethod
    def from_kubeconfig(
        cls, context: str | None = None, config_file: str | None = None, name: str | None = None
    ) -> KubeCluster:
        """Connect as a kubeconfig context says (the current one when `context` is None)."""
        configuration = client.Configuration()
        try:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=config_file, context=context, client_configuration=configuration
            )
            if name is None:
                _, active = config.list_kube_config_contexts(config_file=config_file)  # type: ignore[no-untyped-call]
                name = context or str(active["name"])
        except (ConfigException, OSError, KeyError, TypeError) as exc:
            where = config_file or "$KUBECONFIG or ~/.kube/config"
            raise PermanentError(f"cannot use kube context {context or '(current)'} from {where}: {exc}") from exc
        configuration.connection_pool_maxsize = POOL_SIZE
        return cls(client.ApiClient(configuration), name)

    @classmethod
    def in_cluster(cls, name: str = "in-cluster") -> KubeCluster:
        """Connect from inside a pod: its service account's token (re-read as the kubelet renews it), the
        cluster's CA and KUBERNETES_SERVICE_HOST/PORT, as every in-cluster client does."""
        configuration = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except ConfigException as exc:
            raise PermanentError(f"not running in a Kubernetes pod (no in-cluster configuration): {exc}") from exc
        configuration.connection_pool_maxsize = POOL_SIZE
        return cls(client.ApiClient(configuration), name)

    @classmethod
    def from_token(cls, server: str, token: str, ca_file: str | None = None, name: str = "cluster") -> KubeCluster:
        """Connect with a bearer token (a member agent's service-account token, for instance)."""
        configuration = client.Configuration()
        configuration.host = server
        configuration.ssl_ca_cert = ca_file
        configuration.api_key = {"BearerToken": token}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
        configuration.connection_pool_maxsize = POOL_SIZE
        return cls(client.ApiClient(configuration), name)

    def close(self) -> None:
        self.api.close()

    def ensure_namespace(self, name: str) -> None:
        self.manifests.ensure_namespace(name)

    # -- helpers ----------------------------------------------------------------------------------

    def _decode(self, kind: type[R], body: dict[str, Any]) -> R:
        try:
            return kind.model_validate(body)
        except ValidationError as exc:
            meta = body.get("metadata") or {}
            what = f"{kind.KIND} {meta.get('namespace', '')}/{meta.get('name', '')}".replace(" /", " ")
            raise PermanentError(
                f"{what} on cluster {self.name} does not match this version of the platform: {exc}"
            ) from exc

    @staticmethod
    def _body(obj: Resource, resource: ResourceType, keep_status: bool) -> tuple[dict[str, Any], str | None]:
        body = obj.wire()
        if not keep_status:
            body.pop("status", None)
        namespace = resource.namespace_of(obj.metadata.namespace)
        meta = body.setdefault("metadata", {})
        if namespace:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        return body, namespace

    @staticmethod
    def _named(obj: Resource, resource: ResourceType) -> None:
        if not obj.name:
            raise InvalidError(resource.kind, [FieldError("metadata.name", "required")])

    def _replace(self, obj: R, subresource: str | None, dry_run: bool = False) -> R:
        """PUT the object (or its status); without a resourceVersion, against whatever is current."""
        resource = ResourceType.of(kind_info(type(obj)))
        self._named(obj, resource)
        body, ns = self._body(obj, resource, keep_status=subresource == "status")
        what = resource.describe(obj.name, ns) + (f" {subresource}" if subresource else "")
        path = resource.item(obj.name, ns, subresource)
        conditional = bool(obj.metadata.resource_version)
        for _ in range(1 if conditional else UNCONDITIONAL_ATTEMPTS):
            if not conditional:
                current = self.api.send(Request("GET", resource.item(obj.name, ns), what=what))
                body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            try:
                answer = self._write(Request("PUT", path, STRICT, body, what=what), dry_run)
                return self._decode(type(obj), answer)
            except ConflictError:
                if conditional:
                    raise
        raise ConflictError(f"{what} on cluster {self.name} kept changing while being written; retry")

    def _write(self, request: Request, dry_run: bool) -> dict[str, Any]:
        if not dry_run:
            return self.api.send(request)
        answer = self.api.send(replace(request, query=(*request.query, *DRY_RUN)))
        # A dry run stops short of etcd, which alone refuses objects over its request limit: check here.
        size = len(json.dumps(answer, separators=(",", ":")).encode())
        if size > OBJECT_BYTES:
            raise InvalidError(
                request.what,
                [FieldError("", f"is too large to store: {size:,} bytes, over the {OBJECT_BYTES:,} etcd stores")],
                header=f"{request.what} is invalid on cluster {self.name}",
            )
        return answer

    # -- the Cluster interface --------------------------------------------------------------------

    def get(self, kind: type[R], name: str, namespace: str | None = None) -> R:
        resource = ResourceType.of(kind_info(kind))
        what = resource.describe(name, namespace)
        return self._decode(kind, self.api.send(Request("GET", resource.item(name, namespace), what=what)))

    def list(self, kind: type[R], namespace: str | None = None, label_selector: str | None = None) -> ResourceList[R]:
        resource = ResourceType.of(kind_info(kind))
        base: tuple[tuple[str, str], ...] = (("limit", str(LIST_PAGE)),)
        if label_selector:
            parse_selector(label_selector)  # refused here in the embedded store's words, before any request
            base += (("labelSelector", label_selector),)
        items: list[R] = []
        version, token = "", ""
        while True:
            query = base + ((("continue", token),) if token else ())
            page = self.api.send(
                Request("GET", resource.collection(namespace), query, what=resource.describe(None, namespace))
            )
            items.extend(self._decode(kind, item) for item in page.get("items") or [])
            meta = page.get("metadata") or {}
            version = version or str(meta.get("resourceVersion") or "")
            token = str(meta.get("continue") or "")
            if not token:
                break
        items.sort(key=lambda o: (o.metadata.namespace or "", o.metadata.name))
        return ResourceList(items=items, resource_version=version)

    def watch(
        self,
        kind: type[R],
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: str | None = None,
        timeout: float | None = None,
    ) -> WatchStream[R]:
        resource = ResourceType.of(kind_info(kind))
        return KubeWatch(
            self.api,
            resource,
            lambda body: self._decode(kind, body),
            lambda: self.list(kind, namespace, label_selector),
            namespace,
            resource_version,
            label_selector,
            timeout,
        )

    def create(self, obj: R, *, dry_run: bool = False) -> R:
        resource = ResourceType.of(kind_info(type(obj)))
        if obj.metadata.resource_version:
            # The server answers this with an internal error; say what is wrong instead (as kubectl does).
            raise InvalidError(
                resource.describe(obj.name or "(unnamed)", obj.metadata.namespace),
                [FieldError("metadata.resourceVersion", "must not be set on objects to be created")],
            )
        body, ns = self._body(obj, resource, keep_status=False)
        what = resource.describe(obj.name or "(unnamed)", ns)
        answer = self._write(Request("POST", resource.collection(ns), STRICT, body, what=what), dry_run)
        return self._decode(type(obj), answer)

    def update(self, obj: R, *, dry_run: bool = False) -> R:
        return self._replace(obj, None, dry_run)

    def update_status(self, obj: R) -> R:
        return self._replace(obj, "status")

    def apply(self, obj: R, field_manager: str, force: bool = True, *, dry_run: bool = False) -> R:
        resource = ResourceType.of(kind_info(type(obj)))
        self._named(obj, resource)
        body, ns = self._body(obj, resource, keep_status=False)
        # Only what this manager means to own: no server-set metadata, no resourceVersion precondition.
        meta = body["metadata"]
        keep = ("name", "namespace", "labels", "annotations", "finalizers", "ownerReferences")
        body["metadata"] = {k: meta[k] for k in keep if meta.get(k)}
        query = (*STRICT, ("fieldManager", field_manager), ("force", "true" if force else "false"))
        what = resource.describe(obj.name, ns)
        answer = self._write(Request("PATCH", resource.item(obj.name, ns), query, body, APPLY_PATCH, what), dry_run)
        return self._decode(type(obj), answer)

    def delete(self, kind: type[R], name: str, namespace: str | None = None) -> R | None:
        resource = ResourceType.of(kind_info(kind))
        what = resource.describe(name, namespace)
        answer = self.api.send(Request("DELETE", resource.item(name, namespace), what=what))
        # Gone at once: the server answers with a Status. Held by finalizers: with the marked object.
        meta = answer.get("metadata") or {}
        if answer.get("kind") == "Status" or not (meta.get("deletionTimestamp") and meta.get("finalizers")):
            return None
        return self._decode(kind, answer)
