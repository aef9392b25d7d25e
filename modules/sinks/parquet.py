"""A governed Parquet sink on a local or S3 filesystem, written so that readers never see half a write.

Layout under the sink's path:

    part-<name>.parquet          committed data (what dataset readers see)
    _staging/<name>.parquet      written completely, not yet committed
    _staging/<name>.partial      being written (deleted and rewritten after a crash)
    _manifest.json               written last by a copy: the list of parts and their row counts

Names are chosen by the writer (a put's id, a copy's partition index), so re-running a write after a
crash replaces a file instead of adding a second copy of its rows. Memory is bounded: batches are
gathered into row groups of at most `row_group_rows` rows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs

from m4d.modules.sources.failures import SourceError, classify
from m4d.modules.sources.stores import Location

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
MANIFEST = "_manifest.json"
STAGING = "_staging"


@dataclass(frozen=True)
class Written:
    rows: int
    bytes: int


class ParquetSink:
    def __init__(self, location: Location, *, row_group_rows: int = 1 << 20, compression: str = "snappy") -> None:
        self.location = location
        self.fs = location.filesystem
        self.root = location.path.rstrip("/")
        self.row_group_rows = row_group_rows
        self.compression = compression

    def _error(self, what: str, error: Exception) -> SourceError:
        why, temporary = classify(error)
        why = why.replace("could not be read", "could not be written")
        return SourceError(f"{what} {self.location.display}: {why}", why=why, detail=str(error), temporary=temporary)

    def _path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    @staticmethod
    def _check(name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(f"invalid part name {name!r}")
        return name

    def _exists(self, path: str) -> bool:
        return bool(self.fs.get_file_info(path).type == fs.FileType.File)

    def committed(self, name: str) -> bool:
        return self._exists(self._path(f"part-{self._check(name)}.parquet"))

    def staged(self, name: str) -> bool:
        return self._exists(self._path(STAGING, f"{self._check(name)}.parquet"))

    def stage(self, name: str, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> Written:
        """Write `batches` as one Parquet file under _staging; complete when this returns."""
        self._check(name)
        try:
            self.fs.create_dir(self._path(STAGING), recursive=True)
            partial, done = self._path(STAGING, f"{name}.partial"), self._path(STAGING, f"{name}.parquet")
            rows = 0
            with (
                self.fs.open_output_stream(partial) as out,
                pq.ParquetWriter(out, schema, compression=self.compression) as writer,
            ):
                pending: list[pa.RecordBatch] = []
                pending_rows = 0
                for batch in batches:
                    pending.append(batch)
                    pending_rows += batch.num_rows
                    rows += batch.num_rows
                    if pending_rows >= self.row_group_rows:
                        writer.write_table(pa.Table.from_batches(pending, schema), row_group_size=self.row_group_rows)
                        pending, pending_rows = [], 0
                if pending:
                    writer.write_table(pa.Table.from_batches(pending, schema), row_group_size=self.row_group_rows)
            size = self.fs.get_file_info(partial).size or 0
            self.fs.move(partial, done)
        except (OSError, pa.ArrowException) as error:
            raise self._error("cannot write", error) from None
        return Written(rows, size)

    def commit(self, name: str) -> None:
        """Move a staged file into place (idempotent: a part already committed stays)."""
        staged = self._path(STAGING, f"{self._check(name)}.parquet")
        try:
            if self._exists(staged):
                self.fs.move(staged, self._path(f"part-{name}.parquet"))
            elif not self.committed(name):
                raise SourceError(f"part {name} of {self.location.display} was neither staged nor committed")
        except OSError as error:
            raise self._error("cannot commit to", error) from None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        with self.fs.open_output_stream(self._path(MANIFEST)) as out:
            out.write(json.dumps(manifest, indent=2, sort_keys=True).encode())

    def read_manifest(self) -> dict[str, Any] | None:
        path = self._path(MANIFEST)
        if not self._exists(path):
            return None
        with self.fs.open_input_stream(path) as f:
            manifest: dict[str, Any] = json.loads(f.read())
            return manifest

    def clear_staging(self) -> None:
        try:
            if self.fs.get_file_info(self._path(STAGING)).type == fs.FileType.Directory:
                self.fs.delete_dir(self._path(STAGING))
        except OSError:
            pass  # leftovers are ignored by readers and replaced by the next run

    def clear_committed(self) -> None:
        """Delete the manifest and every committed part (a copy about to be replaced)."""
        try:
            infos = self.fs.get_file_info(fs.FileSelector(self.root, allow_not_found=True))
            for info in infos:
                if info.type == fs.FileType.File and (
                    info.base_name == MANIFEST
                    or (info.base_name.startswith("part-") and info.base_name.endswith(".parquet"))
                ):
                    self.fs.delete_file(info.path)
        except OSError as error:
            raise self._error("cannot clear", error) from None

    def existing_schema(self) -> pa.Schema | None:
        """The schema of data already committed here, if any."""
        try:
            infos = self.fs.get_file_info(fs.FileSelector(self.root, allow_not_found=True))
        except OSError:
            return None
        for info in sorted(infos, key=lambda i: i.path):
            if info.type == fs.FileType.File and info.base_name.startswith("part-"):
                with self.fs.open_input_file(info.path) as f:
                    return pq.ParquetFile(f).schema_arrow.remove_metadata()
        return None
