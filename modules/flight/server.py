"""The Arrow Flight module: serves governed assets to authenticated applications, and takes writes.

- `list_flights`: the assets the caller was granted.
- `get_flight_info`: the schema after policy transforms and one endpoint per partition.
- `do_get`: one partition, streamed through the transforms (a generator: gRPC pulls batch by batch, so
  memory stays bounded whatever the asset's size).
- `do_put`: a write into the asset's governed Parquet sink, schema-checked, transformed, committed whole.
- `list_actions`: none; `do_action` and `do_exchange` are refused.

Every refusal is a Flight error of one class per kind with a short, data-free message and a reason code
(`refusals.py`); drivers' texts, which may quote data, go only to the module's log, scrubbed.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyarrow import flight

from m4d.credentials import CredentialStore, Scrubber, open_store
from m4d.errors import FieldError, InvalidError
from m4d.modules.actions import FILTER_ROWS
from m4d.modules.assets import ReadableAsset, WritableAsset
from m4d.modules.config import ModuleConfig
from m4d.modules.flight import refusals
from m4d.modules.flight.auth import MIDDLEWARE_KEY, BearerAuthFactory, Caller, caller_of
from m4d.modules.flight.refusals import rpc
from m4d.modules.flight.served import Served
from m4d.modules.flight.tickets import Request, Ticket, parse_descriptor, parse_ticket
from m4d.modules.sources.failures import LogScrubber, SourceError
from m4d.modules.transforms import ColumnRefused, Projection
from m4d.modules.transforms.compact import plain_batch, plain_schema

log = logging.getLogger(__name__)


class FlightModule(flight.FlightServerBase):  # type: ignore[misc]
    def __init__(self, config: ModuleConfig, credentials: CredentialStore | None, **kwargs: Any) -> None:
        self.credentials = credentials
        self.scrub = Scrubber()
        self._reloading = threading.Lock()
        # Open every asset now: a bad action, column, predicate, key or store fails start-up, not a read.
        self.served = Served.build(config, credentials, self.scrub)
        listen = config.listen
        location = f"{listen.scheme}://{listen.host}:{listen.port}"
        middleware = {MIDDLEWARE_KEY: BearerAuthFactory(self._find)}
        if listen.tls is not None:
            try:
                pair = flight.CertKeyPair(
                    cert=Path(listen.tls.cert_file).read_bytes(), key=Path(listen.tls.key_file).read_bytes()
                )
            except OSError as error:
                raise InvalidError("listen.tls", [FieldError("", f"cannot read {error.filename}")]) from None
            kwargs["tls_certificates"] = [pair]
        super().__init__(location, middleware=middleware, **kwargs)

    def _find(self, token: str) -> Caller | None:
        return self.served.find(token)  # the grants served when the call starts

    @property
    def config(self) -> ModuleConfig:
        return self.served.config

    def reload(self, config: ModuleConfig) -> list[str]:
        """Serve `config` from the next call on (what changed, in words). Streams and writes that began
        before end at their next batch if their caller lost the asset or its transforms changed. Raises
        as start-up does when an asset cannot be opened, and ReloadRefused for a new listen address."""
        with self._reloading:
            previous = self.served
            if config.credentials != previous.config.credentials:
                self.credentials = open_store(config.credentials) if config.credentials is not None else None
            served = Served.build(config, self.credentials, self.scrub, previous)
            self.served = served  # one assignment: a call sees the old configuration or the new one
            return served.changes(previous)

    # -- helpers -------------------------------------------------------------------------------------

    def _granted(self, caller: Caller, asset_id: str, table: dict[str, Any]) -> Any:
        # One answer for "no such asset" and "not yours": a caller cannot probe which assets exist.
        if not caller.may_use(asset_id) or asset_id not in table:
            raise refusals.unauthorized(f"asset {asset_id!r} is not available to application {caller.application}")
        return table[asset_id]

    def _projection(self, asset: ReadableAsset, columns: list[str] | None) -> Projection:
        try:
            return asset.pipeline.project(columns)
        except ColumnRefused as error:
            raise refusals.unauthorized(str(error), refusals.COLUMN_REFUSED) from None

    def _info(self, caller: Caller, request: Request, descriptor: flight.FlightDescriptor) -> flight.FlightInfo:
        asset = self._granted(caller, request.asset, self.served.readable)
        projection = self._projection(asset, request.columns)
        endpoints = [
            flight.FlightEndpoint(Ticket(asset=request.asset, columns=request.columns, partition=p.index).encode(), [])
            for p in asset.source.partitions()
        ]
        rows = None if FILTER_ROWS in asset.pipeline.actions else asset.source.total_rows()
        return flight.FlightInfo(projection.schema, descriptor, endpoints, rows if rows is not None else -1, -1)

    # -- Flight RPCs ---------------------------------------------------------------------------------

    @rpc("list_flights")
    def list_flights(self, context: Any, criteria: bytes) -> Iterator[flight.FlightInfo]:
        caller = caller_of(context)
        # Built whole before returning: an error while listing is then a refusal, not a broken stream.
        infos = []
        for asset_id in sorted(caller.assets & self.served.readable.keys()):
            descriptor = flight.FlightDescriptor.for_path(asset_id)
            infos.append(self._info(caller, Request(asset=asset_id), descriptor))
        return iter(infos)

    @rpc("get_flight_info")
    def get_flight_info(self, context: Any, descriptor: flight.FlightDescriptor) -> flight.FlightInfo:
        caller = caller_of(context)
        return self._info(caller, parse_descriptor(descriptor), descriptor)

    @rpc("get_schema")
    def get_schema(self, context: Any, descriptor: flight.FlightDescriptor) -> flight.SchemaResult:
        caller = caller_of(context)
        request = parse_descriptor(descriptor)
        asset = self._granted(caller, request.asset, self.served.readable)
        return flight.SchemaResult(self._projection(asset, request.columns).schema)

    @rpc("do_get")
    def do_get(self, context: Any, ticket: flight.Ticket) -> flight.FlightDataStream:
        caller = caller_of(context)
        request = parse_ticket(ticket)
        served = self.served
        asset = self._granted(caller, request.asset, served.readable)
        projection = self._projection(asset, request.columns)
        partitions = asset.source.partitions()
        if request.partition >= len(partitions):
            raise refusals.refused(
                f"asset {request.asset!r} has {len(partitions)} partitions", refusals.NO_SUCH_PARTITION
            )
        partition = partitions[request.partition]
        log.info("%s reads %s partition %d", caller.application, request.asset, partition.index)
        batches = projection.run(asset.source.read(partition, projection.read))
        what = f"reading {request.asset} partition {partition.index}"
        guarded = self._guard(batches, what, caller, request.asset, asset, served)
        return flight.GeneratorStream(projection.schema, guarded)

    def _revoked(self, caller: Caller, asset_id: str, asset: ReadableAsset | WritableAsset, since: Served) -> bool:
        served = self.served
        return served is not since and not served.still_serves(caller, asset_id, asset)

    def _guard(
        self,
        batches: Iterator[pa.RecordBatch],
        what: str,
        caller: Caller,
        asset_id: str,
        asset: ReadableAsset,
        served: Served,
    ) -> Iterator[pa.RecordBatch]:
        """Ends the stream when a reload withdrew the caller's access or changed the transforms; errors
        mid-stream reach the client as data-free refusals, the log has the driver's words (the values of
        protected columns masked, secrets scrubbed)."""
        try:
            for batch in batches:
                if self._revoked(caller, asset_id, asset, served):
                    log.info("%s: ended for %s, its access changed", what, caller.application)
                    raise refusals.unauthorized(f"access to {asset_id} was revoked", refusals.REVOKED)
                yield batch
        except flight.FlightError:
            raise
        except SourceError as error:
            masked = LogScrubber(asset.source.schema.names, asset.pipeline.protected)
            log.warning("%s failed: %s (%s)", what, self.scrub(str(error)), self.scrub(masked(error.detail)))
            raise refusals.source_failure(what, error) from None
        except Exception as error:  # a refusal either way; faults are logged
            raise refusals.as_refusal(what, error, self.scrub) from None

    @rpc("do_put")
    def do_put(
        self, context: Any, descriptor: flight.FlightDescriptor, reader: flight.MetadataRecordBatchReader, writer: Any
    ) -> None:
        caller = caller_of(context)
        request = parse_descriptor(descriptor)
        served = self.served
        asset = self._granted(caller, request.asset, served.writable)
        what = f"writing {request.asset}"
        try:
            # Dictionaries are decoded, as sources do: a write-flow filter must not leave rows in one.
            schema = plain_schema(reader.schema)
            pipeline = asset.pipeline_for(schema)
        except InvalidError as error:
            message = f"{what} refused: {self.scrub(_first_line(error))}"
            raise refusals.refused(message, refusals.WRITE_REFUSED) from None
        name = uuid.uuid4().hex
        batches = pipeline.run(plain_batch(chunk.data, schema) for chunk in reader)
        try:
            written = asset.sink.stage(name, pipeline.output_schema, batches)
            if self._revoked(caller, request.asset, asset, served):  # staged, never committed
                raise refusals.unauthorized(f"access to {request.asset} was revoked", refusals.REVOKED)
            asset.sink.commit(name)
        except SourceError as error:
            masked = LogScrubber(schema.names, pipeline.protected)
            log.warning("%s failed: %s (%s)", what, self.scrub(str(error)), self.scrub(masked(error.detail)))
            raise refusals.source_failure(what, error) from None
        log.info("%s wrote %d rows to %s", caller.application, written.rows, request.asset)
        writer.write(pa.py_buffer(f'{{"rows": {written.rows}}}'.encode()))

    @rpc("list_actions")
    def list_actions(self, context: Any) -> list[tuple[str, str]]:
        caller_of(context)
        return []

    @rpc("do_action")
    def do_action(self, context: Any, action: flight.Action) -> Iterator[bytes]:
        caller_of(context)
        raise refusals.refused(f"this module offers no action {action.type[:80]!r}", refusals.UNSUPPORTED)

    @rpc("do_exchange")
    def do_exchange(self, context: Any, descriptor: flight.FlightDescriptor, reader: Any, writer: Any) -> None:
        caller_of(context)
        raise refusals.refused("DoExchange is not supported: read with DoGet, write with DoPut", refusals.UNSUPPORTED)


def _first_line(error: InvalidError) -> str:
    return "; ".join(str(e) for e in error.errors) or str(error)


# pyarrow's GetSchema handler, unlike the others, does not turn a Flight error into its status: the client
# gets "Unknown error" with the refusal's message and a Python traceback. The frame that raises the refusal
# (`rpc`'s wrapper) is the module's only frame in it, so it is named for the module, not its source file.
_wrapper = FlightModule.get_schema
_wrapper.__code__ = _wrapper.__code__.replace(co_filename="m4d.modules.flight")
