"""The project's error tree. Every client layer translates its library's errors into these.

Two words matter to controllers (as in kopf): a TemporaryError is retried with backoff; a
PermanentError is not retried but becomes a status condition whose reason and message a user can act on.
"""

from __future__ import annotations

from dataclasses import dataclass


class M4DError(Exception):
    """Base of every error the platform raises on purpose."""

    reason: str = "Error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason

    @property
    def message(self) -> str:
        return str(self)


class TemporaryError(M4DError):
    """Worth retrying: the same call may succeed later (outage, timeout, lost race)."""

    reason = "Temporary"

    def __init__(self, message: str, *, delay: float | None = None, reason: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.delay = delay


class PermanentError(M4DError):
    """Retrying the same input gives the same answer; someone must change something."""

    reason = "Invalid"


class NotFoundError(PermanentError):
    reason = "NotFound"


class AlreadyExistsError(PermanentError):
    reason = "AlreadyExists"


class ConflictError(TemporaryError):
    """Optimistic concurrency lost: the object changed since it was read. Re-read and retry."""

    reason = "Conflict"


class GoneError(TemporaryError):
    """A watch asked for history the store no longer keeps: list again and watch from there."""

    reason = "Expired"


class StoreCorruptError(PermanentError):
    """A store's file is damaged: no retry helps, and a process that meets it stops, saying how to repair it."""

    reason = "StoreCorrupt"


class UnauthorizedError(PermanentError):
    reason = "Unauthorized"


class ForbiddenError(PermanentError):
    reason = "Forbidden"


@dataclass(frozen=True)
class FieldError:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidError(PermanentError):
    """An object failed validation; names every offending field."""

    reason = "Invalid"

    def __init__(self, what: str, errors: list[FieldError], header: str | None = None) -> None:
        self.what = what
        self.errors = errors
        lines = "\n".join(f"  {e}" for e in errors)
        head = header or f"{what} is invalid"
        super().__init__(f"{head}:\n{lines}" if errors else head)
