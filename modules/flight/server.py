"""The Arrow Flight module: serves governed assets to authenticated applications, and takes writes.

- `list_flights`: the assets the caller was granted.
- `get_flight_info`: the schema after policy transforms and one endpoint per partition.
- `do_get`: one partition, streamed through the transforms (a generator: gRPC pulls batch by batch, so
  memory stays bounded whatever the asset's size).
- `do_put`: a write into the asset's governed Parquet sink, schema-checked, transformed, committed whole.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyarrow import flight

from m4d.credentials import CredentialStore, Scrubber
from m4d.errors import FieldError, InvalidError, M4DError
from m4d.modules.actions import FILTER_ROWS
from m4d.modules.assets import ReadableAsset, WritableAsset
from m4d.modules.config import ModuleConfig
from m4d.modules.flight.auth import MIDDLEWARE_KEY, BearerAuthFactory, Caller, caller_of
from m4d.modules.flight.tickets import Request, Ticket, parse_descriptor, parse_ticket
from m4d.modules.transforms import ColumnRefused, Projection

log = logging.getLogger(__name__)


class FlightModule(flight.FlightServerBase):  # type: ignore[misc]
    def __init__(self, config: ModuleConfig, credentials: CredentialStore | None, **kwargs: Any) -> None:
        self.config = config
        self.scrub = Scrubber()
        # Open every asset now: a bad action, column, predicate, key or store fails start-up, not a read.
        self.readable: dict[str, ReadableAsset] = {}
        self.writable: dict[str, WritableAsset] = {}
        for asset in config.assets:
            if asset.capability in ("read", "copy"):
                self.readable[asset.asset_id] = ReadableAsset.open(asset, config, credentials, self.scrub)
            elif asset.capability == "write":
                self.writable[asset.asset_id] = WritableAsset.open(asset, config, credentials, self.scrub)
        listen = config.listen
        location = f"{listen.scheme}://{listen.host}:{listen.port}"
        middleware = {MIDDLEWARE_KEY: BearerAuthFactory(config.clients)}
        if listen.tls is not None:
            try:
                pair = flight.CertKeyPair(
                    cert=Path(listen.tls.cert_file).read_bytes(), key=Path(listen.tls.key_file).read_bytes()
                )
            except OSError as error:
                raise InvalidError("listen.tls", [FieldError("", f"cannot read {error.filename}")]) from None
            kwargs["tls_certificates"] = [pair]
        super().__init__(location, middleware=middleware, **kwargs)

    # -- helpers -------------------------------------------------------------------------------------

    def _granted(self, caller: Caller, asset_id: str, table: dict[str, Any]) -> Any:
        # One answer for "no such asset" and "not yours": a caller cannot probe which assets exist.
        if not caller.may_use(asset_id) or asset_id not in table:
            raise flight.FlightUnauthorizedError(
                f"asset {asset_id!r} is not available to application {caller.application}"
            )
        return table[asset_id]

    def _projection(self, asset: ReadableAsset, columns: list[str] | None) -> Projection:
        try:
            return asset.pipeline.project(columns)
        except ColumnRefused as error:
            raise flight.FlightUnauthorizedError(str(error)) from None

    def _info(self, caller: Caller, request: Request, descriptor: flight.FlightDescriptor) -> flight.FlightInfo:
        asset = self._granted(caller, request.asset, self.readable)
        projection = self._projection(asset, request.columns)
        endpoints = [
            flight.FlightEndpoint(Ticket(asset=request.asset, columns=request.columns, partition=p.index).encode(), [])
            for p in asset.source.partitions()
        ]
        rows = None if FILTER_ROWS in asset.pipeline.actions else asset.source.total_rows()
        return flight.FlightInfo(projection.schema, descriptor, endpoints, rows if rows is not None else -1, -1)

    # -- Flight RPCs ---------------------------------------------------------------------------------

    def list_flights(self, context: Any, criteria: bytes) -> Iterator[flight.FlightInfo]:
        caller = caller_of(context)
        for asset_id in sorted(caller.assets & self.readable.keys()):
            descriptor = flight.FlightDescriptor.for_path(asset_id)
            yield self._info(caller, Request(asset=asset_id), descriptor)

    def get_flight_info(self, context: Any, descriptor: flight.FlightDescriptor) -> flight.FlightInfo:
        caller = caller_of(context)
        return self._info(caller, parse_descriptor(descriptor), descriptor)

    def get_schema(self, context: Any, descriptor: flight.FlightDescriptor) -> flight.SchemaResult:
        caller = caller_of(context)
        request = parse_descriptor(descriptor)
        asset = self._granted(caller, request.asset, self.readable)
        return flight.SchemaResult(self._projection(asset, request.columns).schema)

    def do_get(self, context: Any, ticket: flight.Ticket) -> flight.FlightDataStream:
        caller = caller_of(context)
        request = parse_ticket(ticket)
        asset = self._granted(caller, request.asset, self.readable)
        projection = self._projection(asset, request.columns)
        partitions = asset.source.partitions()
        if request.partition >= len(partitions):
            raise pa.ArrowInvalid(f"asset {request.asset!r} has {len(partitions)} partitions")
        partition = partitions[request.partition]
        log.info("%s reads %s partition %d", caller.application, request.asset, partition.index)
        batches = projection.run(asset.source.read(partition, projection.read))
        return flight.GeneratorStream(projection.schema, self._guard(batches, request.asset))

    def _guard(self, batches: Iterator[pa.RecordBatch], asset_id: str) -> Iterator[pa.RecordBatch]:
        """Errors mid-stream reach the client scrubbed of any secret a driver might have echoed."""
        try:
            yield from batches
        except M4DError as error:
            raise flight.FlightServerError(self.scrub(str(error))) from None
        except (OSError, pa.ArrowException) as error:
            log.warning("reading %s failed: %s", asset_id, self.scrub(str(error)))
            raise flight.FlightServerError(f"reading {asset_id} failed: {self.scrub(str(error))}") from None

    def do_put(
        self, context: Any, descriptor: flight.FlightDescriptor, reader: flight.MetadataRecordBatchReader, writer: Any
    ) -> None:
        caller = caller_of(context)
        request = parse_descriptor(descriptor)
        asset = self._granted(caller, request.asset, self.writable)
        try:
            pipeline = asset.pipeline_for(reader.schema)
        except M4DError as error:
            raise pa.ArrowInvalid(self.scrub(str(error))) from None
        name = uuid.uuid4().hex
        batches = pipeline.run(chunk.data for chunk in reader)
        try:
            written = asset.sink.stage(name, pipeline.output_schema, batches)
            asset.sink.commit(name)
        except M4DError as error:
            raise flight.FlightServerError(self.scrub(str(error))) from None
        log.info("%s wrote %d rows to %s", caller.application, written.rows, request.asset)
        writer.write(pa.py_buffer(f'{{"rows": {written.rows}}}'.encode()))
