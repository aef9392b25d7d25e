"""Watch one kind on a Kubernetes API server, with the semantics of `Cluster.watch`.

The server ends a watch after `timeoutSeconds`; a watch here is a series of such requests, each resuming
from the last resourceVersion seen (an event or a server BOOKMARK). When the caller passes a `stop`
event, each request lasts at most STOP_CHECK seconds, so a stop is noticed promptly even when nothing
changes; `stop` is also checked after every event. History the server no longer keeps (HTTP 410, as
the answer or as an ERROR event) raises GoneError: list again and watch from there.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from m4d.cluster.interface import EventType, R, ResourceList, WatchEvent
from m4d.cluster.kube_errors import status_error
from m4d.cluster.kube_http import KubeApi, Request
from m4d.cluster.kube_resources import ResourceType
from m4d.errors import TemporaryError

# Longest single watch request when stopping must be prompt (seconds; the server counts whole seconds).
STOP_CHECK = 1
# Longest single watch request otherwise; the server's own limit is similar (--min-request-timeout).
LONGEST_REQUEST = 300
# A watch connection silent for this long beyond its server timeout is treated as lost.
READ_SLACK = 15.0

_TYPES: tuple[EventType, ...] = ("ADDED", "MODIFIED", "DELETED", "BOOKMARK")


def _request_seconds(remaining: float | None, prompt_stop: bool) -> int:
    longest = STOP_CHECK if prompt_stop else LONGEST_REQUEST
    if remaining is None:
        return longest
    return max(1, min(longest, math.ceil(remaining)))


def watch_events(
    api: KubeApi,
    resource: ResourceType,
    decode: Callable[[dict[str, Any]], R],
    list_now: Callable[[], ResourceList[R]],
    namespace: str | None,
    resource_version: str | None,
    label_selector: str | None,
    timeout: float | None,
    stop: threading.Event | None,
) -> Iterator[WatchEvent[R]]:
    deadline = None if timeout is None else time.monotonic() + timeout

    def stopped() -> bool:
        return stop is not None and stop.is_set()

    if resource_version:
        last = resource_version
    else:
        listed = list_now()
        for item in listed.items:
            yield WatchEvent("ADDED", item, item.metadata.resource_version or listed.resource_version)
        last = listed.resource_version

    what = f"watch of {resource.describe(namespace=namespace)}"
    while not stopped():
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            break
        seconds = _request_seconds(remaining, prompt_stop=stop is not None)
        query: list[tuple[str, str]] = [
            ("watch", "true"),
            ("resourceVersion", last),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(seconds)),
        ]
        if label_selector:
            query.append(("labelSelector", label_selector))
        request = Request("GET", resource.collection(namespace), tuple(query), what=what)
        stream = api.stream(request, read_timeout=seconds + READ_SLACK)
        try:
            for raw in stream:
                event_type, body = raw.get("type"), raw.get("object")
                if not isinstance(body, dict):
                    raise TemporaryError(f"{what} on cluster {api.cluster}: event without an object: {raw}")
                if event_type == "ERROR":
                    raise status_error(int(body.get("code") or 500), body, what, api.cluster)
                if event_type not in _TYPES:
                    raise TemporaryError(f"{what} on cluster {api.cluster}: unknown event type {event_type!r}")
                version = str((body.get("metadata") or {}).get("resourceVersion") or last)
                last = version
                if event_type == "BOOKMARK":
                    yield WatchEvent("BOOKMARK", None, version)
                else:
                    yield WatchEvent(event_type, decode(body), version)
                if stopped():
                    break
        finally:
            stream.close()
    yield WatchEvent("BOOKMARK", None, last)
