"""How the Flight module says no: one Flight error class per kind of refusal, a short message that holds
no data, and a reason code in the error's `extra_info` that clients can match on.

Nothing else reaches a client: an exception that is not a refusal is logged (with its traceback, in the
module's log only) and answered `FlightInternalError` with an incident id to find it there. The reason
codes and classes are part of the module's interface (docs/modules.md lists them).
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from pyarrow import flight

from m4d.errors import M4DError
from m4d.modules.sources.failures import SourceError

log = logging.getLogger("m4d.modules.flight")

MAX_MESSAGE = 300

# Reason codes (FlightError.extra_info), by class:
UNAUTHENTICATED = "Unauthenticated"  # FlightUnauthenticatedError: no or unknown bearer token
NOT_GRANTED = "NotGranted"  # FlightUnauthorizedError: asset not granted to the caller, or unknown
COLUMN_REFUSED = "ColumnRefused"  # FlightUnauthorizedError: a column policy removed, or one the asset lacks
REVOKED = "Revoked"  # FlightUnauthorizedError: access was withdrawn while a stream was open
MALFORMED = "Malformed"  # FlightServerError: a ticket or descriptor that does not parse
NO_SUCH_PARTITION = "NoSuchPartition"  # FlightServerError: a partition index the asset does not have
UNSUPPORTED = "Unsupported"  # FlightServerError: an RPC or action this module does not offer
WRITE_REFUSED = "WriteRefused"  # FlightServerError: written data that does not fit the asset
SOURCE_FAILED = "SourceFailed"  # FlightServerError: the asset's data cannot be read (or written)
SOURCE_UNAVAILABLE = "SourceUnavailable"  # FlightUnavailableError: the store is unreachable; try again
INTERNAL = "Internal"  # FlightInternalError: a fault of the module (its log has the incident id)


def _short(message: str) -> str:
    line = message.strip().splitlines()[0] if message.strip() else "refused"
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 3] + "..."


def unauthenticated(message: str) -> flight.FlightUnauthenticatedError:
    return flight.FlightUnauthenticatedError(_short(message), extra_info=UNAUTHENTICATED.encode())


def unauthorized(message: str, reason: str = NOT_GRANTED) -> flight.FlightUnauthorizedError:
    return flight.FlightUnauthorizedError(_short(message), extra_info=reason.encode())


def refused(message: str, reason: str) -> flight.FlightServerError:
    return flight.FlightServerError(_short(message), extra_info=reason.encode())


def unavailable(message: str) -> flight.FlightUnavailableError:
    return flight.FlightUnavailableError(_short(message), extra_info=SOURCE_UNAVAILABLE.encode())


def internal(what: str, error: BaseException) -> flight.FlightInternalError:
    incident = uuid.uuid4().hex[:12]
    log.error("%s failed (incident %s): %s", what, incident, type(error).__name__, exc_info=error)
    return flight.FlightInternalError(
        f"{what} failed: internal error (incident {incident} in the module's log)", extra_info=INTERNAL.encode()
    )


def source_failure(what: str, error: SourceError) -> flight.FlightError:
    """A source's failure as a client sees it: what failed and the data-free reason, nothing of `detail`."""
    message = f"{what} failed: {error.why}"
    return unavailable(message) if error.temporary else refused(message, SOURCE_FAILED)


def as_refusal(what: str, error: BaseException, scrub: Callable[[str], str]) -> flight.FlightError:
    """Any exception raised while serving `what` as the Flight error a client may see."""
    if isinstance(error, flight.FlightError):
        return error
    if isinstance(error, SourceError):
        return source_failure(what, error)
    if isinstance(error, M4DError):
        # The platform's own errors name fields, columns and assets, never values (secrets scrubbed).
        return refused(f"{what} failed: {scrub(str(error))}", getattr(error, "refusal", SOURCE_FAILED))
    return internal(what, error)


F = TypeVar("F", bound=Callable[..., Any])


def rpc(name: str) -> Callable[[F], F]:
    """Answer every exception `method` raises as a refusal (`as_refusal`)."""

    def wrap(method: F) -> F:
        @functools.wraps(method)
        def call(self: Any, context: Any, *args: Any) -> Any:
            try:
                return method(self, context, *args)
            except Exception as error:  # every failure becomes a refusal; faults are logged
                # Without the frames it was raised through: pyarrow's GetSchema handler sends them along.
                raise as_refusal(name, error, self.scrub).with_traceback(None) from None

        return call  # type: ignore[return-value]

    return wrap
