"""The wire to a Kubernetes API server: build a request, send it, translate the answer.

Every call to a real cluster goes through `KubeApi`: the official client's `ApiClient` supplies the
configuration (server, TLS, bearer token or client certificate, token refresh) and the connection pool;
this module decides the exact method, path, query and body, and turns every failure into the project's
error tree (`kube_errors`), so nothing above it sees the `kubernetes` or `urllib3` exceptions.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from m4d.cluster.kube_errors import parse_status, retry_after, status_error
from m4d.errors import M4DError, TemporaryError

JSON = "application/json"
APPLY_PATCH = "application/apply-patch+yaml"  # server-side apply; JSON is YAML, so the body stays JSON
MERGE_PATCH = "application/merge-patch+json"

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0

Query = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Request:
    """One API call, fully decided before anything is sent."""

    method: str
    path: str
    query: Query = ()
    body: Any = None
    content_type: str = JSON
    what: str = ""  # what the call is about, for error messages ("M4DApplication ns/a")

    @property
    def verb(self) -> str:
        """The API verb the call counts as (get, list, watch, create, update, update_status, apply, delete)."""
        keys = {k for k, _ in self.query}
        if self.method == "GET":
            return "watch" if "watch" in keys else "list" if keys & {"limit", "continue", "labelSelector"} else "get"
        if self.method == "PUT":
            return "update_status" if self.path.endswith("/status") else "update"
        return {"POST": "create", "PATCH": "apply", "DELETE": "delete"}.get(self.method, self.method.lower())


class KubeApi:
    """Send `Request`s to one cluster. Thread-safe: the pool below is shared by every caller."""

    def __init__(self, client: ApiClient, cluster: str, read_timeout: float = READ_TIMEOUT) -> None:
        self.client = client
        self.cluster = cluster
        self.read_timeout = read_timeout
        self.requests: Counter[str] = Counter()
        self._requests_lock = threading.Lock()

    @property
    def server(self) -> str:
        return str(self.client.configuration.host)

    def _open(self, request: Request, read_timeout: float) -> Any:
        with self._requests_lock:
            self.requests[request.verb] += 1
        headers = {"Accept": JSON}
        if request.body is not None:
            headers["Content-Type"] = request.content_type
        method, url, header_params, body, _ = self.client.param_serialize(
            request.method,
            request.path,
            query_params=list(request.query),
            header_params=headers,
            body=request.body,
            auth_settings=["BearerToken"],
        )
        try:
            return self.client.call_api(
                method, url, header_params, body, _request_timeout=(CONNECT_TIMEOUT, read_timeout)
            )
        except (urllib3.exceptions.HTTPError, ApiException, OSError) as exc:
            raise self._unreachable(request, exc) from exc

    def _unreachable(self, request: Request, exc: Exception) -> TemporaryError:
        about = f"{request.method} {request.path}" if not request.what else request.what
        reason = exc.reason if isinstance(exc, ApiException) else exc
        return TemporaryError(f"cannot reach cluster {self.cluster} at {self.server} ({about}): {reason}")

    def _raise_for_status(self, request: Request, status: int, data: bytes | None, headers: Any) -> None:
        if 200 <= status < 300:
            return
        what = request.what or f"{request.method} {request.path}"
        delay = retry_after(headers.get("Retry-After") if headers is not None else None)
        raise status_error(status, parse_status(data), what, self.cluster, delay)

    def send(self, request: Request) -> dict[str, Any]:
        """The decoded JSON answer of a successful call; an M4DError otherwise."""
        response = self._open(request, self.read_timeout)
        try:
            data = response.read()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._unreachable(request, exc) from exc
        self._raise_for_status(request, response.status, data, response.headers)
        try:
            decoded = json.loads(data) if data else {}
        except ValueError as exc:
            raise TemporaryError(f"cluster {self.cluster} answered {request.path} with non-JSON: {exc}") from exc
        return decoded if isinstance(decoded, dict) else {"items": decoded}

    def stream(self, request: Request, read_timeout: float) -> EventLines:
        """The JSON lines of a streamed answer (a watch), until the server ends it or `abort()` is called.

        `read_timeout` bounds the silence between two lines, so a server that vanishes is noticed.
        """
        response = self._open(request, read_timeout)
        if not 200 <= response.status < 300:
            try:
                self._raise_for_status(request, response.status, response.read(), response.headers)
            finally:
                response.response.release_conn()
        return EventLines(self, request, response.response)

    def close(self) -> None:
        self.client.close()  # type: ignore[no-untyped-call]


class EventLines:
    """One streamed answer, line by line. `abort()` from another thread ends a read in progress at once."""

    def __init__(self, api: KubeApi, request: Request, raw: urllib3.BaseHTTPResponse) -> None:
        self.api = api
        self.request = request
        self.raw = raw
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True
        with contextlib.suppress(Exception):  # already finished or released: nothing is blocked on it
            self.raw.shutdown()

    def close(self) -> None:
        """Done with it (from the reading thread): the connection is released, whatever was left unread."""
        self.aborted = True
        with contextlib.suppress(Exception):
            self.raw.close()
            self.raw.release_conn()

    def __iter__(self) -> Generator[dict[str, Any], None, None]:
        raw = self.raw
        try:
            for line in iter_resp_lines(raw):  # type: ignore[no-untyped-call]
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError as exc:
                    if self.aborted:
                        return
                    raise TemporaryError(f"cluster {self.api.cluster} sent a broken watch event: {line[:200]}") from exc
                if isinstance(event, dict):
                    yield event
        except M4DError:
            raise
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            if self.aborted:
                return
            raise self.api._unreachable(self.request, exc) from exc
        finally:
            raw.close()  # unread data may remain; the connection is not reusable then
            raw.release_conn()
