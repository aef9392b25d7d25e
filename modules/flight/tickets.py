"""What clients send: flight descriptors naming an asset (and columns), tickets naming one partition.

Both are small JSON documents parsed once into typed values; anything malformed is refused before any
asset is looked up (`FlightServerError`, reason `Malformed`). Tickets name a partition by index, never by
path, so a client cannot point the module at a file.
"""

from __future__ import annotations

import json
from typing import Any

from pyarrow import flight
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from m4d.modules.config import check_asset_id
from m4d.modules.flight.refusals import MALFORMED, refused

MAX_REQUEST_BYTES = 64 * 1024


class Request(BaseModel):
    """An asset and, optionally, the columns wanted (in order)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    asset: str
    columns: list[str] | None = Field(default=None, max_length=10_000)

    @field_validator("asset")
    @classmethod
    def _asset(cls, value: str) -> str:
        return check_asset_id(value)


class Ticket(Request):
    partition: int = Field(ge=0)

    def encode(self) -> flight.Ticket:
        return flight.Ticket(self.model_dump_json(exclude_none=True).encode())


def _parse(model: type[Request], raw: bytes) -> Any:
    if len(raw) > MAX_REQUEST_BYTES:
        raise refused(f"malformed {model.__name__.lower()}: larger than {MAX_REQUEST_BYTES} bytes", MALFORMED)
    try:
        return model.model_validate(json.loads(raw))
    except (ValueError, ValidationError, RecursionError) as error:
        detail = error.errors(include_input=False)[0]["msg"] if isinstance(error, ValidationError) else "not JSON"
        raise refused(f"malformed {model.__name__.lower()}: {detail}", MALFORMED) from None


def parse_ticket(ticket: flight.Ticket) -> Ticket:
    result: Ticket = _parse(Ticket, ticket.ticket)
    return result


def parse_descriptor(descriptor: flight.FlightDescriptor) -> Request:
    """`for_path(asset_id)` or `for_command(b'{"asset": ..., "columns": [...]}')`."""
    if descriptor.descriptor_type == flight.DescriptorType.PATH:
        try:
            parts = [p.decode() if isinstance(p, bytes) else str(p) for p in descriptor.path]
        except UnicodeDecodeError:
            raise refused("malformed descriptor: the asset id is not UTF-8", MALFORMED) from None
        if len(parts) != 1:
            raise refused("malformed descriptor: a path descriptor names exactly one asset id", MALFORMED)
        try:
            return Request(asset=parts[0])
        except ValidationError:
            raise refused(f"malformed descriptor: {parts[0][:80]!r} is not an asset id", MALFORMED) from None
    request: Request = _parse(Request, descriptor.command)
    return request
