"""The calls a kubelet makes to its API server, as plain JSON (the project's wire layer sends them)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from kubernetes import config

from m4d.cluster.kube_http import MERGE_PATCH, KubeApi, Request
from m4d.errors import GoneError, NotFoundError

Obj = dict[str, Any]
WATCH_SECONDS = 30


class NodeApi:
    def __init__(self, kubeconfig: str, context: str) -> None:
        client = config.new_client_from_config(config_file=kubeconfig, context=context)
        client.configuration.connection_pool_maxsize = 16
        self.api = KubeApi(client, context)

    @property
    def server(self) -> str:
        return self.api.server

    def close(self) -> None:
        self.api.close()

    def get(self, path: str) -> Obj:
        return self.api.send(Request("GET", path))

    def get_or_none(self, path: str) -> Obj | None:
        try:
            return self.get(path)
        except NotFoundError:
            return None

    def create(self, path: str, body: Obj) -> Obj:
        return self.api.send(Request("POST", path, body=body))

    def put(self, path: str, body: Obj) -> Obj:
        return self.api.send(Request("PUT", path, body=body))

    def merge_patch(self, path: str, body: Obj) -> Obj:
        return self.api.send(Request("PATCH", path, body=body, content_type=MERGE_PATCH))

    def delete(self, path: str, body: Obj | None = None) -> None:
        with contextlib.suppress(NotFoundError):
            self.api.send(Request("DELETE", path, body=body))

    # -- pods ---------------------------------------------------------------------------------

    @staticmethod
    def pod_path(namespace: str, name: str) -> str:
        return f"/api/v1/namespaces/{namespace}/pods/{name}"

    def pods_on(self, node: str) -> tuple[list[Obj], str]:
        listed = self.api.send(Request("GET", "/api/v1/pods", (("fieldSelector", f"spec.nodeName={node}"),)))
        return list(listed.get("items") or []), str(listed["metadata"]["resourceVersion"])

    def watch_pods(self, node: str, version: str, stop: threading.Event) -> Iterator[tuple[str, Obj]]:
        """Events for the pods bound to `node` from `version`; GoneError when that history is gone."""
        while not stop.is_set():
            query = (
                ("watch", "true"),
                ("fieldSelector", f"spec.nodeName={node}"),
                ("resourceVersion", version),
                ("allowWatchBookmarks", "true"),
                ("timeoutSeconds", str(WATCH_SECONDS)),
            )
            stream = self.api.stream(Request("GET", "/api/v1/pods", query), read_timeout=WATCH_SECONDS + 15)
            try:
                for event in stream:
                    body = event.get("object") or {}
                    if event.get("type") == "ERROR":
                        if body.get("code") == 410:
                            raise GoneError(str(body.get("message")))
                        continue
                    version = str((body.get("metadata") or {}).get("resourceVersion") or version)
                    if event.get("type") != "BOOKMARK":
                        yield str(event.get("type")), body
                    if stop.is_set():
                        return
            finally:
                stream.close()

    def patch_pod_status(self, pod: Obj, status: Obj) -> Obj:
        meta = pod["metadata"]
        body = {"metadata": {"uid": meta["uid"]}, "status": status}  # the uid guards against a namesake
        return self.merge_patch(self.pod_path(meta["namespace"], meta["name"]) + "/status", body)

    def delete_pod_now(self, pod: Obj) -> None:
        """What a kubelet sends once a pod's containers are gone: delete with no grace, for this uid only."""
        meta = pod["metadata"]
        body = {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}}
        self.delete(self.pod_path(meta["namespace"], meta["name"]), body)

    def token(self, namespace: str, account: str, pod: Obj, audience: str | None, seconds: int) -> Obj:
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "audiences": [audience] if audience else [],
                "expirationSeconds": seconds,
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": pod["metadata"]["name"],
                    "uid": pod["metadata"]["uid"],
                },
            },
        }
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{quote(account)}/token"
        return self.create(path, body)["status"]  # type: ignore[no-any-return]


def dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))
