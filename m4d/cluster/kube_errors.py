"""Translate what a Kubernetes API server answers into the project's error tree.

The server explains a failure in a `Status` body: an HTTP code, a machine `reason` and, for invalid
objects, `details.causes` naming each offending field. Strict field validation reports unknown fields in
the message of a 400 instead, so those are parsed out of it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from m4d.errors import (
    AlreadyExistsError,
    ConflictError,
    FieldError,
    ForbiddenError,
    GoneError,
    InvalidError,
    M4DError,
    NotFoundError,
    PermanentError,
    TemporaryError,
    UnauthorizedError,
)

# `strict decoding error: unknown field "spec.purpose", duplicate field "spec.x"`
_STRICT_FIELD = re.compile(r'(unknown|duplicate) field "([^"]*)"')
# `json: cannot unmarshal number into Go struct field ObjectMeta.annotations of type string`: in a custom
# resource only metadata is a Go struct, so the path is under metadata.
_DECODE_FIELD = re.compile(r"cannot unmarshal (\w+) into Go struct field \w+\.([\w.]+) of type (\S+)")


def parse_status(body: bytes | str | None) -> dict[str, Any]:
    """The Status object in a response body, or a stand-in holding the raw text when it is not one."""
    if not body:
        return {}
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        parsed = json.loads(text)
    except ValueError:
        return {"message": text.strip()[:500]}
    return parsed if isinstance(parsed, dict) else {"message": text.strip()[:500]}


def field_errors(status: dict[str, Any]) -> list[FieldError]:
    """Every field a 400/422 Status names, in the server's words."""
    causes = (status.get("details") or {}).get("causes") or []
    errors = [
        # The server prints a cause without a field as "<nil>" at times (a Go nil); it names no field.
        FieldError(
            str(c.get("field") or "").replace("<nil>", ""), str(c.get("message") or c.get("reason") or "invalid")
        )
        for c in causes
        if isinstance(c, dict)
    ]
    if errors:
        return errors
    message = str(status.get("message") or "")
    strict = [FieldError(path, f"{what} field") for what, path in _STRICT_FIELD.findall(message)]
    decode = [
        FieldError(path if path.startswith("metadata") else f"metadata.{path}", f"must be {go_type} (got {json_type})")
        for json_type, path, go_type in _DECODE_FIELD.findall(message)
    ]
    return strict or decode or [FieldError("", message or "rejected by the API server")]


_TOO_LARGE = ("request is too large", "trying to send message larger than max")


def status_error(
    code: int, status: dict[str, Any], what: str, cluster: str, retry_after: float | None = None
) -> M4DError:
    """The project error for an HTTP error `code` with Status `status`, about `what` on `cluster`."""
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or reason or f"HTTP {code}")
    where = f"{what} on cluster {cluster}"
    if code == 404:
        return NotFoundError(f"{where}: {message}")
    if code == 409:
        if reason == "AlreadyExists":
            return AlreadyExistsError(f"{where}: {message}")
        return ConflictError(f"{where}: {message}; read it again and retry")
    if code in (400, 422):
        return InvalidError(what, field_errors(status), header=f"{what} is invalid on cluster {cluster}")
    if code == 401:
        return UnauthorizedError(f"{where}: the credentials were refused ({message})")
    if code == 403:
        return ForbiddenError(f"{where}: {message}")
    if code == 410:
        return GoneError(f"{where}: {message}; list again")
    if code == 500 and "failed to create typed patch object" in message:
        # Server-side apply answers 500 to a manifest whose fields do not fit the schema: no retry fixes it.
        return InvalidError(what, [FieldError("", message)], header=f"{what} is invalid on cluster {cluster}")
    if code == 413 or (code == 500 and any(m in message for m in _TOO_LARGE)):
        # etcd refuses an object over its request limit (1.5 MiB by default) with an internal error:
        # the same object is refused every time, so it is no reason to retry.
        return InvalidError(
            what,
            [FieldError("", f"is too large to store: {message}")],
            header=f"{what} is invalid on cluster {cluster}",
        )
    if code == 429 or code >= 500:
        return TemporaryError(f"{where}: {message} (HTTP {code})", delay=retry_after)
    return PermanentError(f"{where}: {message} (HTTP {code})", reason=reason or None)


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (the API server sends whole seconds)."""
    try:
        return float(value) if value else None
    except ValueError:
        return None
