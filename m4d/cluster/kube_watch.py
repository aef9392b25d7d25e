"""Watch one kind on a Kubernetes API server, with the semantics of `Cluster.watch`.

One `KubeWatch` is one long-lived watch: a request that the server ends after `timeoutSeconds`
(LONGEST_REQUEST, or what is left of the caller's `timeout`) is followed by the next, resuming from the
last resourceVersion seen (an event or a server BOOKMARK), so nothing is missed and nothing is polled.
`close()` shuts the connection's socket down, which ends a read in progress at once. History the server
no longer keeps (HTTP 410, as the answer or as an ERROR event) raises GoneError: list again and watch
from there.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from m4d.cluster.interface import EventType, R, ResourceList, WatchEvent, WatchStream
from m4d.cluster.kube_errors import status_error
from m4d.cluster.kube_http import EventLines, KubeApi, Request
from m4d.cluster.kube_resources import ResourceType
from m4d.errors import TemporaryError

# Longest single watch request (seconds); the server's own limit is similar (--min-request-timeout).
LONGEST_REQUEST = 300
# A watch connection silent for this long beyond its server timeout is treated as lost.
READ_SLACK = 15.0

_TYPES: tuple[EventType, ...] = ("ADDED", "MODIFIED", "DELETED", "BOOKMARK")


def _request_seconds(remaining: float | None) -> int:
    if remaining is None:
        return LONGEST_REQUEST
    return max(1, min(LONGEST_REQUEST, math.ceil(remaining)))


class KubeWatch(WatchStream[R]):
    def __init__(
        self,
        api: KubeApi,
        resource: ResourceType,
        decode: Callable[[dict[str, Any]], R],
        list_now: Callable[[], ResourceList[R]],
        namespace: str | None,
        resource_version: str | None,
        label_selector: str | None,
        timeout: float | None,
    ) -> None:
        super().__init__()
        self.api = api
        self.resource = resource
        self.decode = decode
        self.list_now = list_now
        self.namespace = namespace
        self.resource_version = resource_version
        self.label_selector = label_selector
        self.timeout = timeout
        self.requests = 0  # watch requests sent: one per LONGEST_REQUEST while nothing goes wrong
        self._lock = threading.Lock()
        self._lines: EventLines | None = None

    def _wake(self) -> None:
        with self._lock:
            lines = self._lines
        if lines is not None:
            lines.abort()

    def _open(self, last: str, seconds: int, what: str) -> EventLines:
        query: list[tuple[str, str]] = [
            ("watch", "true"),
            ("resourceVersion", last),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(seconds)),
        ]
        if self.label_selector:
            query.append(("labelSelector", self.label_selector))
        request = Request("GET", self.resource.collection(self.namespace), tuple(query), what=what)
        lines = self.api.stream(request, read_timeout=seconds + READ_SLACK)
        self.requests += 1
        with self._lock:
            self._lines = lines
            if self._closed.is_set():  # closed while the request was being sent: nobody else will abort it
                lines.abort()
        return lines

    def _run(self) -> Iterator[WatchEvent[R]]:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        if self.resource_version:
            last = self.resource_version
        else:
            listed = self.list_now()
            for item in listed.items:
                yield WatchEvent("ADDED", item, item.metadata.resource_version or listed.resource_version)
            last = listed.resource_version

        what = f"watch of {self.resource.describe(namespace=self.namespace)}"
        cluster = self.api.cluster
        while not self._closed.is_set():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            lines = self._open(last, _request_seconds(remaining), what)
            for raw in lines:
                event_type, body = raw.get("type"), raw.get("object")
                if not isinstance(body, dict):
                    raise TemporaryError(f"{what} on cluster {cluster}: event without an object: {raw}")
                if event_type == "ERROR":
                    raise status_error(int(body.get("code") or 500), body, what, cluster)
                if event_type not in _TYPES:
                    raise TemporaryError(f"{what} on cluster {cluster}: unknown event type {event_type!r}")
                version = str((body.get("metadata") or {}).get("resourceVersion") or last)
                last = version
                if event_type == "BOOKMARK":
                    yield WatchEvent("BOOKMARK", None, version)
                else:
                    yield WatchEvent(event_type, self.decode(body), version)
                if self._closed.is_set():
                    break
            with self._lock:
                self._lines = None
        if not self._closed.is_set():
            yield WatchEvent("BOOKMARK", None, last)
