"""A Git host's HTTP answers and failures in the project's words. Shared by every provider.

Messages name the host and the request's path, never a header (the token travels in one).
"""

from __future__ import annotations

import httpx

from m4d.errors import (
    ConflictError,
    ForbiddenError,
    M4DError,
    NotFoundError,
    PermanentError,
    TemporaryError,
    UnauthorizedError,
)

_SNIPPET = 300


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    text = str(body.get("message") or "") if isinstance(body, dict) else ""
    text = " ".join((text or response.text).split())
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 1] + "…"


def from_response(host: str, what: str, response: httpx.Response) -> M4DError:
    """The error for a non-success answer to `what` (e.g. "open pull request for m4d/review/x")."""
    code = response.status_code
    detail = _detail(response)
    where = f"{host}: {what}: HTTP {code}" + (f" ({detail})" if detail else "")
    if code == 401:
        return UnauthorizedError(f"{where}; the Git host refused the token: check the token reference (tokenRef)")
    if code == 403:
        return ForbiddenError(f"{where}; the token's user may not do this in the repository (needs write access)")
    if code == 404:
        return NotFoundError(f"{where}; is the repository right and visible to the token's user?")
    if code == 409:
        return ConflictError(where, reason="HostConflict")
    if code == 429 or code >= 500:
        retry = response.headers.get("Retry-After", "")
        return TemporaryError(where, delay=float(retry) if retry.isdigit() else None, reason="HostUnavailable")
    return PermanentError(where, reason="HostRejected")


def from_transport(host: str, what: str, exc: httpx.HTTPError) -> M4DError:
    """A request that got no answer (refused, reset, timed out, bad TLS)."""
    kind = type(exc).__name__
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return PermanentError(f"{host}: {what}: bad Git host URL ({kind})", reason="BadURL")
    return TemporaryError(f"{host}: {what}: no answer ({kind}: {exc})", reason="HostUnreachable")
