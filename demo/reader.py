"""Read an application's assets the way its workload would: over Arrow Flight, with its token only."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from pyarrow import flight

from m4d.api.common import Endpoint
from m4d.errors import M4DError, TemporaryError


@dataclass(frozen=True)
class ReadResult:
    asset: str
    endpoint: str
    table: pa.Table


def read_asset(endpoint: Endpoint, token: str, asset: str, timeout: float = 30.0) -> ReadResult:
    """Every partition of `asset` from the module at `endpoint`, as the workload receives it."""
    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())], timeout=timeout)
    client = flight.FlightClient(endpoint.url)
    try:
        info = client.get_flight_info(flight.FlightDescriptor.for_path(asset), options)
        parts = [client.do_get(e.ticket, options).read_all() for e in info.endpoints]
    except flight.FlightUnavailableError as exc:
        raise TemporaryError(f"module at {endpoint.url} is not reachable: {exc}") from exc
    except flight.FlightError as exc:
        raise M4DError(f"module at {endpoint.url} refused to serve {asset}: {exc}") from exc
    finally:
        client.close()
    table = pa.concat_tables(parts) if parts else info.schema.empty_table()
    return ReadResult(asset, endpoint.url, table)


def refused_without_token(endpoint: Endpoint, asset: str) -> str:
    """What the module answers a client that presents no token (the demo shows it is refused)."""
    client = flight.FlightClient(endpoint.url)
    try:
        client.get_flight_info(flight.FlightDescriptor.for_path(asset))
    except flight.FlightError as exc:
        return str(exc).splitlines()[0]
    finally:
        client.close()
    return "served without a token"
