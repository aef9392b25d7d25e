"""The one HTTP client layer of the connectors (the only module that imports httpx).

Build the request, send it with a timeout, retry with exponential backoff on what may pass (connection
errors, timeouts, HTTP 5xx and 429), and translate every outcome into the project's error tree:
- still failing after the last attempt: TemporaryError (the controller requeues);
- 404: NotFoundError; any other 4xx, or a body that is not JSON: PermanentError (a status condition).
Messages name the connector and the URL, never a header value (headers may carry credentials).

The timeout bounds a whole attempt, not each read: a server that trickles its answer a byte at a time
is given up on once the attempt's time is over (at its next byte, or after one silent read timeout).
Answers are read strictly (`m4d.api.strict`): UTF-8 JSON, no duplicate keys, at most 16 MiB and 100
levels deep.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from m4d.api.strict import FILE_LIMITS, load_json
from m4d.errors import InvalidError, NotFoundError, PermanentError, TemporaryError

_SNIPPET = 300


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    backoff: float = 0.2  # seconds before the second attempt; doubles each time
    max_backoff: float = 2.0

    def delay(self, attempt: int) -> float:
        return float(min(self.backoff * 2**attempt, self.max_backoff))


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 1] + "…"


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


@dataclass
class HttpConnector:
    """POSTs JSON to one server. `name` says which connector it is in messages, e.g. `policy manager opa`."""

    name: str
    base_url: str
    timeout: float = 5.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    headers: dict[str, str] = field(default_factory=dict)
    _client: httpx.Client | None = field(default=None, init=False, repr=False)
    # Decisions and revision checks come from several threads: one client, made once.
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    base_url=self.base_url.rstrip("/"), timeout=self.timeout, headers=self.headers
                )
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}{path}"

    def _send(self, path: str, body: Any, headers: dict[str, str] | None) -> tuple[int, bytes]:
        """One attempt: status and body, read whole within `timeout` seconds and `FILE_LIMITS` bytes."""
        deadline = time.monotonic() + self.timeout
        with self._http().stream("POST", path, json=body, headers=headers) as response:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > FILE_LIMITS.document_bytes:
                    raise _TooLarge(size)
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("the whole answer took too long")
            return response.status_code, b"".join(chunks)

    def get_bytes(self, path: str) -> bytes:
        """The body of a 2xx answer to one GET (no retry: a caller that polls asks again anyway);
        TemporaryError if the server cannot answer, PermanentError for any other status."""
        deadline = time.monotonic() + self.timeout
        try:
            with self._http().stream("GET", path) as response:
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > FILE_LIMITS.document_bytes or time.monotonic() > deadline:
                        raise TemporaryError(f"{self.name} at {self.url(path)} answered too much or too slowly")
                    chunks.append(chunk)
                status = response.status_code
        except httpx.HTTPError as exc:
            raise TemporaryError(f"{self.name} at {self.url(path)} is unavailable: {type(exc).__name__}") from None
        if status >= 300:
            raise PermanentError(f"{self.name} at {self.url(path)} answered HTTP {status}")
        return b"".join(chunks)

    def post_json(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        """The decoded JSON answer of a 2xx response."""
        last = "no attempt made"
        for attempt in range(max(self.retry.attempts, 1)):
            if attempt:
                time.sleep(self.retry.delay(attempt - 1))
            try:
                status, content = self._send(path, body, headers)
            except httpx.TimeoutException:
                last = f"no whole answer within {self.timeout:g}s"
                continue
            except httpx.TransportError as exc:
                last = f"cannot connect ({type(exc).__name__}: {exc})"
                continue
            except _TooLarge as exc:
                raise PermanentError(
                    f"{self.name} at {self.url(path)} answered with more than {FILE_LIMITS.document_bytes:,} bytes "
                    f"({exc.size:,} read); refusing to read further",
                    reason="InvalidResponse",
                ) from None
            text = content.decode("utf-8", "replace")
            if status >= 500 or status == 429:
                last = f"HTTP {status}: {_snippet(text)}"
                continue
            if status == 404:
                raise NotFoundError(f"{self.name} at {self.url(path)} answered HTTP 404: {_snippet(text)}")
            if status >= 400:
                raise PermanentError(
                    f"{self.name} at {self.url(path)} rejected the request: HTTP {status}: {_snippet(text)}"
                )
            if status >= 300 or status < 200:
                raise PermanentError(
                    f"{self.name} at {self.url(path)} answered HTTP {status} (redirects are not followed): "
                    f"{_snippet(text)}",
                    reason="InvalidResponse",
                )
            try:
                return load_json(content, "the answer", FILE_LIMITS)
            except InvalidError as exc:
                problem = "; ".join(e.message for e in exc.errors)
                raise PermanentError(
                    f"{self.name} at {self.url(path)} answered with a body that is not usable JSON ({problem}): "
                    f"{_snippet(text)}",
                    reason="InvalidResponse",
                ) from None
        attempts = max(self.retry.attempts, 1)
        raise TemporaryError(
            f"{self.name} at {self.url(path)} is unavailable: {last} (after {attempts} attempt"
            f"{'s' if attempts > 1 else ''})",
            reason="Unavailable",
        )
