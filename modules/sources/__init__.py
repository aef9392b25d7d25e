"""Sources a module reads assets from: files (Parquet, CSV, Arrow IPC) on local disk or S3, PostgreSQL."""

from __future__ import annotations

from m4d.api.common import DataStore
from m4d.credentials import CredentialStore, Scrubber
from m4d.errors import FieldError, InvalidError
from m4d.modules.sources.base import Partition, Source, SourceError
from m4d.modules.sources.files import FileSource
from m4d.modules.sources.stores import Location, locate

__all__ = ["FileSource", "Location", "Partition", "Source", "SourceError", "locate", "open_source"]


def open_source(
    store: DataStore,
    credentials: CredentialStore | None,
    scrub: Scrubber,
    *,
    batch_rows: int = 65_536,
    rows_per_partition: int = 1 << 20,
) -> Source:
    """The source a DataStore names; InvalidError/SourceError at start-up when it cannot be read."""
    kind = store.connection.kind
    if kind == "postgres":
        from m4d.modules.sources.postgres import PostgresSource  # noqa: PLC0415 - loads the ADBC driver

        return PostgresSource(
            store.connection,
            store.credential_ref,
            credentials,
            scrub,
            batch_rows=batch_rows,
            rows_per_partition=rows_per_partition,
        )
    if kind in ("file", "s3"):
        location = locate(store.connection, store.credential_ref, credentials, scrub)
        fmt = (store.format or "parquet").lower()
        return FileSource(location, fmt, batch_rows=batch_rows, rows_per_partition=rows_per_partition)
    raise InvalidError("data store", [FieldError("connection.kind", f"{kind!r} is not supported (file, s3, postgres)")])
