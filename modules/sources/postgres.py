"""PostgreSQL tables through ADBC (binary COPY, streamed as Arrow record batches).

The query is built from identifiers only — the table named in the connection and columns checked
against the table's schema — each quoted as PostgreSQL quotes identifiers; no value from a client or a
policy is ever put into SQL (row filters run on the Arrow side).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

import adbc_driver_manager
import adbc_driver_postgresql.dbapi as pgdbapi
import pyarrow as pa

from m4d.api.common import Connection
from m4d.credentials import CredentialStore, Scrubber, entry
from m4d.errors import FieldError, InvalidError, TemporaryError
from m4d.modules.sources.base import Partition, Source
from m4d.modules.sources.failures import SourceError
from m4d.modules.transforms.compact import plain_batch, plain_schema


def quote_ident(name: str) -> str:
    if not name or "\x00" in name:
        raise InvalidError("identifier", [FieldError("", f"{name!r} is not a PostgreSQL identifier")])
    return '"' + name.replace('"', '""') + '"'


class PostgresSource(Source):
    def __init__(
        self,
        connection: Connection,
        credential_ref: str | None,
        credentials: CredentialStore | None,
        scrub: Scrubber,
        *,
        batch_rows: int = 65_536,
        rows_per_partition: int = 1 << 20,
    ) -> None:
        props = connection.properties
        missing = [k for k in ("host", "database", "table") if not props.get(k)]
        if missing:
            raise InvalidError("postgres connection", [FieldError(f"properties.{k}", "is required") for k in missing])
        self.host, self.port = str(props["host"]), int(props.get("port") or 5432)
        self.database = str(props["database"])
        table = str(props["table"])
        self.db_schema, _, self.table = table.rpartition(".") if "." in table else ("", "", table)
        self.db_schema = str(props.get("schema") or self.db_schema or "public")
        self.display = f"postgres://{self.host}:{self.port}/{self.database}/{self.db_schema}.{self.table}"
        self.scrub = scrub
        self.batch_rows = batch_rows
        self.rows_per_partition = rows_per_partition
        self._partitions: list[Partition] | None = None
        user, password = "postgres", ""
        if credential_ref:
            if credentials is None:
                raise InvalidError("postgres connection", [FieldError("credentialRef", "no credential store")])
            values = credentials.resolve(credential_ref)
            scrub.add(values.values())
            user = entry(values, credential_ref, ("username", "user"))
            password = values.get("password", "")
        auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
        ssl = "?sslmode=require" if str(props.get("ssl", "")).lower() in ("true", "1") else ""
        self._uri = f"postgresql://{auth}@{self.host}:{self.port}/{quote(self.database, safe='')}{ssl}"
        self.schema = plain_schema(self._schema())

    def __repr__(self) -> str:
        return f"PostgresSource({self.display!r})"

    def _connect(self) -> Any:
        try:
            return pgdbapi.connect(self._uri)
        except adbc_driver_manager.Error as error:
            raise TemporaryError(f"cannot connect to {self.display}: {self.scrub(str(error))}") from None

    def _failed(self, what: str, error: adbc_driver_manager.Error) -> SourceError:
        # The server's words may quote data (a value that failed to convert): the log has them, not clients.
        temporary = isinstance(error, adbc_driver_manager.OperationalError)
        why = "the database could not be reached" if temporary else "the database could not return the data"
        detail = self.scrub(str(error))
        return SourceError(f"{what} {self.display}: {why}", why=why, detail=detail, temporary=temporary)

    def _schema(self) -> pa.Schema:
        with self._connect() as conn:
            try:
                return conn.adbc_get_table_schema(self.table, db_schema_filter=self.db_schema)
            except adbc_driver_manager.Error as error:
                raise self._failed("cannot read the schema of", error) from None

    def _statistics(self) -> tuple[int, float]:
        """(pages, estimated rows) of the table from pg_class (estimates kept by VACUUM/ANALYZE)."""
        sql = (
            "SELECT c.relpages, c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = $1 AND c.relname = $2"
        )
        with self._connect() as conn, conn.cursor() as cursor:
            try:
                cursor.execute(sql, (self.db_schema, self.table))
                row = cursor.fetchone()
            except adbc_driver_manager.Error as error:
                raise self._failed("cannot read the statistics of", error) from None
        return (int(row[0]), float(row[1])) if row else (0, 0.0)

    def partitions(self) -> list[Partition]:
        """Ranges of the table's pages (read by TID range scans), about `rows_per_partition` rows each.

        The last range is open-ended, so rows in pages added since the statistics were taken are read too.
        """
        if self._partitions is None:
            pages, rows = self._statistics()
            count = max(1, min(int(rows // self.rows_per_partition) + (rows % self.rows_per_partition > 0), 64))
            if pages < count * 2:
                count = 1
            step = -(-pages // count) if count > 1 else 0
            self._partitions = [
                Partition(i, self.display, first=i * step, count=step if i < count - 1 else None) for i in range(count)
            ]
        return self._partitions

    def read(self, partition: Partition, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
        for name in columns:
            if self.schema.get_field_index(name) < 0:
                raise SourceError(f"{self.display} has no column {name!r}")
        select = ", ".join(quote_ident(c) for c in columns) or "NULL"
        sql = f"SELECT {select} FROM {quote_ident(self.db_schema)}.{quote_ident(self.table)}"  # noqa: S608 - identifiers only
        params: tuple[str, ...] = ()
        if partition.first or partition.count is not None:
            # Page ranges as bound parameters (integers we computed, never a client's value).
            sql += " WHERE ctid >= $1::tid"
            params = (f"({partition.first},0)",)
            if partition.count is not None:
                sql += " AND ctid < $2::tid"
                params += (f"({partition.first + partition.count},0)",)
        schema = pa.schema([self.schema.field(c) for c in columns])
        conn = self._connect()
        try:
            with conn.cursor() as cursor:
                cursor.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(16 << 20)})
                cursor.execute(sql, params or None)
                reader = cursor.fetch_record_batch()
                for batch in reader:
                    for offset in range(0, batch.num_rows, self.batch_rows):
                        yield plain_batch(batch.slice(offset, self.batch_rows), schema)
        except adbc_driver_manager.Error as error:
            raise self._failed("cannot read", error) from None
        finally:
            conn.close()
