"""Parquet, CSV and Arrow IPC files on a local or S3 filesystem: one file, or a directory of them.

Reads stream: Parquet one row-group range at a time through a bounded buffer (pre-buffering off, so
memory does not grow with the file), CSV block by block, Arrow IPC record batch by record batch
(memory-mapped and zero-copy on a local disk). Errors name the asset's location, never credentials.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pyarrow import fs

from m4d.modules.sources.base import Partition, Source
from m4d.modules.sources.failures import SourceError, classify
from m4d.modules.sources.stores import Location
from m4d.modules.transforms.compact import plain_batch, plain_schema

FORMATS = {"parquet": (".parquet", ".parq"), "csv": (".csv",), "arrow": (".arrow", ".feather", ".ipc")}
READ_BUFFER = 4 << 20
CSV_BLOCK = 4 << 20


class FileSource(Source):
    def __init__(self, location: Location, fmt: str, *, batch_rows: int = 65_536, rows_per_partition: int = 1 << 20):
        if fmt not in FORMATS:
            raise SourceError(f"format {fmt!r} is not supported for files; use one of {sorted(FORMATS)}")
        self.location, self.format = location, fmt
        self.batch_rows, self.rows_per_partition = batch_rows, rows_per_partition
        self.files = self._files()
        self.file_schema = self._schema(self.files[0])  # as stored (dictionaries and all)
        self.schema = plain_schema(self.file_schema)
        self._partitions: list[Partition] | None = None

    def _error(self, what: str, error: Exception, rows_before: int | None = None) -> SourceError:
        why, temporary = classify(error, rows_before)
        return SourceError(f"{what} {self.location.display}: {why}", why=why, detail=str(error), temporary=temporary)

    def _files(self) -> list[str]:
        filesystem, path = self.location.filesystem, self.location.path
        try:
            info = filesystem.get_file_info(path)
            if info.type == fs.FileType.File:
                return [path]
            if info.type == fs.FileType.NotFound:
                raise SourceError(f"{self.location.display} does not exist")
            selector = fs.FileSelector(path, recursive=True)
            found = sorted(
                i.path
                for i in filesystem.get_file_info(selector)
                if i.type == fs.FileType.File
                and i.path.lower().endswith(FORMATS[self.format])
                and not any(part.startswith(("_", ".")) for part in i.path[len(path) :].split("/"))
            )
        except OSError as error:
            raise self._error("cannot list", error) from None
        if not found:
            raise SourceError(f"{self.location.display} holds no {self.format} files")
        return found

    def _open(self, path: str) -> pa.NativeFile:
        if self.format == "arrow" and isinstance(self.location.filesystem, fs.LocalFileSystem):
            return pa.memory_map(path, "r")
        return self.location.filesystem.open_input_file(path)

    def _schema(self, path: str) -> pa.Schema:
        try:
            with self._open(path) as f:
                if self.format == "parquet":
                    return pq.ParquetFile(f).schema_arrow.remove_metadata()
                if self.format == "arrow":
                    return pa.ipc.open_file(f).schema.remove_metadata()
                return pacsv.open_csv(f, read_options=pacsv.ReadOptions(block_size=CSV_BLOCK)).schema
        except (OSError, pa.ArrowException) as error:
            raise self._error("cannot read the schema of", error) from None

    def partitions(self) -> list[Partition]:
        if self._partitions is None:
            parts: list[Partition] = []
            for path in self.files:
                parts += self._file_partitions(path, len(parts))
            self._partitions = parts
        return self._partitions

    def _file_partitions(self, path: str, start: int) -> list[Partition]:
        if self.format == "csv":
            return [Partition(start, path)]
        try:
            with self._open(path) as f:
                if self.format == "arrow":
                    reader = pa.ipc.open_file(f)
                    self._check(path, reader.schema)
                    if not isinstance(f, pa.MemoryMappedFile):
                        # Counting rows would read the whole file from the store: one partition per file.
                        return [Partition(start, path, 0, reader.num_record_batches, None)]
                    sizes = [reader.get_batch(i).num_rows for i in range(reader.num_record_batches)]
                else:
                    meta = pq.ParquetFile(f).metadata
                    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
                    self._check(path, meta.schema.to_arrow_schema())
        except (OSError, pa.ArrowException) as error:
            raise self._error("cannot read the metadata of", error) from None
        parts: list[Partition] = []
        first = rows = 0
        for i, size in enumerate([*sizes, None]):
            if size is None or (rows and rows + size > self.rows_per_partition):
                if i > first:
                    parts.append(Partition(start + len(parts), path, first, i - first, rows))
                first, rows = i, 0
            rows += size or 0
        return parts or [Partition(start, path, 0, 0, 0)]

    def _check(self, path: str, schema: pa.Schema) -> None:
        if not schema.remove_metadata().equals(self.file_schema):
            raise SourceError(f"{path} does not have the schema of the asset's first file ({self.files[0]})")

    def read(self, partition: Partition, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
        schema = pa.schema([self.schema.field(c) for c in columns])
        rows = 0
        try:
            for batch in self._read(partition, list(columns)):
                rows += batch.num_rows
                yield plain_batch(batch, schema)
        except (OSError, pa.ArrowException) as error:
            raise self._error("cannot read", error, rows) from None

    def _read(self, part: Partition, columns: list[str]) -> Iterator[pa.RecordBatch]:
        with self._open(part.path) as f:
            if self.format == "parquet":
                reader = pq.ParquetFile(f, buffer_size=READ_BUFFER, pre_buffer=False)
                groups = list(range(part.first, part.first + (part.count or 0)))
                if groups:
                    yield from reader.iter_batches(self.batch_rows, row_groups=groups, columns=columns)
            elif self.format == "arrow":
                ipc = pa.ipc.open_file(f)
                indices = [ipc.schema.get_field_index(c) for c in columns]
                for i in range(part.first, part.first + (part.count or 0)):
                    batch = ipc.get_batch(i)
                    for offset in range(0, batch.num_rows, self.batch_rows):
                        yield batch.slice(offset, self.batch_rows).select(indices)
            else:
                convert = pacsv.ConvertOptions(
                    column_types={n: self.schema.field(n).type for n in columns}, include_columns=columns
                )
                stream = pacsv.open_csv(
                    f, read_options=pacsv.ReadOptions(block_size=CSV_BLOCK), convert_options=convert
                )
                for batch in stream:
                    for offset in range(0, batch.num_rows, self.batch_rows):
                        yield batch.slice(offset, self.batch_rows)
