"""The implicit-copy module: copy one asset into a storage account as Parquet, applying its transforms.

Resumable without duplicating rows: partition i of the source becomes exactly one file, `part-<i>`.
Each is written under `_staging/` and counts as done once complete there; when all are, they are moved
into place and `_manifest.json` is written last (the commit). A run after a crash skips the parts already
staged or committed, rewrites a part that was cut short, and finishes an interrupted commit. A fingerprint
of the source and transforms in `_staging/` keeps a changed configuration from reusing stale parts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from m4d.api.blueprint import ModuleAsset
from m4d.credentials import CredentialStore, Scrubber
from m4d.errors import FieldError, InvalidError, M4DError
from m4d.modules.actions import FILTER_ROWS
from m4d.modules.assets import ReadableAsset
from m4d.modules.config import ModuleConfig
from m4d.modules.copy.progress import CopyStatus, Reporter
from m4d.modules.sinks import ParquetSink
from m4d.modules.sinks.parquet import STAGING
from m4d.modules.sources import locate
from m4d.modules.sources.failures import LogScrubber, SourceError, classify

log = logging.getLogger(__name__)
FINGERPRINT = "_run.json"


def copy_asset(config: ModuleConfig) -> ModuleAsset:
    copies = [a for a in config.assets if a.capability == "copy"]
    if len(copies) != 1:
        raise InvalidError(f"copy module {config.name}", [FieldError("assets", "must hold exactly one copy asset")])
    asset = copies[0]
    if asset.sink is None or asset.source is None:
        raise InvalidError(f"asset {asset.asset_id}", [FieldError("sink", "a copy needs a source and a sink")])
    if (asset.sink.format or "parquet").lower() != "parquet":
        raise InvalidError(f"asset {asset.asset_id}", [FieldError("sink.format", "copies are written as parquet")])
    return asset


@dataclass
class CopyJob:
    config: ModuleConfig
    credentials: CredentialStore | None
    reporter: Reporter

    def __post_init__(self) -> None:
        self.scrub = Scrubber()
        self.asset = copy_asset(self.config)
        self.reader = ReadableAsset.open(self.asset, self.config, self.credentials, self.scrub)
        sink = self.asset.sink
        assert sink is not None
        self.sink = ParquetSink(locate(sink.connection, sink.credential_ref, self.credentials, self.scrub))
        self.projection = self.reader.pipeline.project(None)

    def fingerprint(self) -> str:
        source = self.asset.source
        assert source is not None
        parts = [(p.path, p.first, p.count) for p in self.reader.source.partitions()]
        material = json.dumps(
            [self.asset.asset_id, source.wire(), [a.wire() for a in self.asset.actions], parts], sort_keys=True
        )
        return hashlib.sha256(material.encode()).hexdigest()

    def _prepare_staging(self, fingerprint: str) -> None:
        fs, path = self.sink.fs, f"{self.sink.root}/{STAGING}/{FINGERPRINT}"
        try:
            with fs.open_input_stream(path) as f:
                previous = json.loads(f.read()).get("fingerprint")
        except (OSError, ValueError):
            previous = None
        if previous != fingerprint:
            # A different source or policy: whatever an earlier run left here is not part of this copy.
            self.sink.clear_committed()
            self.sink.clear_staging()
            fs.create_dir(f"{self.sink.root}/{STAGING}", recursive=True)
            with fs.open_output_stream(path) as out:
                out.write(json.dumps({"fingerprint": fingerprint}).encode())

    def _staged_rows(self, name: str) -> int:
        path = f"{self.sink.root}/{STAGING}/{name}.parquet"
        if not self.sink.staged(name):
            path = f"{self.sink.root}/part-{name}.parquet"
        with self.sink.fs.open_input_file(path) as f:
            rows: int = pq.ParquetFile(f).metadata.num_rows
            return rows

    def run(self) -> CopyStatus:
        """Copy; on failure the status and the error say what failed in data-free words (statuses reach
        users), and the log has the driver's text with the values of protected columns masked."""
        report = self.reporter
        try:
            return self._run()
        except SourceError as error:
            self._log_detail(error.detail)
            report.update(force=True, phase="Failed", message=self.scrub(str(error)))
            raise
        except M4DError as error:
            report.update(force=True, phase="Failed", message=self.scrub(str(error)))
            raise
        except (OSError, pa.ArrowException) as error:
            self._log_detail(str(error))
            why, _ = classify(error)
            message = f"copy of {self.asset.asset_id} failed: {why}"
            report.update(force=True, phase="Failed", message=message)
            raise M4DError(message) from None

    def _log_detail(self, detail: str) -> None:
        masked = LogScrubber(self.reader.source.schema.names, self.reader.pipeline.protected)
        log.warning("copy of %s failed: %s", self.asset.asset_id, self.scrub(masked(detail)))

    def _run(self) -> CopyStatus:
        report = self.reporter
        partitions = self.reader.source.partitions()
        fingerprint = self.fingerprint()
        total = self.reader.source.total_rows()
        has_filter = FILTER_ROWS in self.reader.pipeline.actions
        report.update(
            force=True, phase="Running", parts_total=len(partitions), rows_total=None if has_filter else total
        )
        manifest = self.sink.read_manifest()
        if manifest is not None and manifest.get("fingerprint") == fingerprint:
            report.update(force=True, phase="Completed", rows_copied=manifest["rows"], parts_done=len(partitions),
                          message="already copied", catalog_entry=self._catalog_entry())  # fmt: skip
            return report.status
        self._prepare_staging(fingerprint)
        names: list[tuple[str, int]] = []
        started = time.monotonic()
        for part in partitions:
            name = f"{part.index:05d}"
            if self.sink.staged(name) or self.sink.committed(name):
                rows = self._staged_rows(name)
                report.status.resumed_parts += 1
            else:
                batches = self._counted(self.projection.run(self.reader.source.read(part, self.projection.read)))
                written = self.sink.stage(name, self.projection.schema, batches)
                rows = written.rows
                report.status.bytes_written += written.bytes
            names.append((name, rows))
            report.update(parts_done=len(names), rows_copied=sum(r for _, r in names))
        for name, _ in names:
            self.sink.commit(name)
        rows = sum(r for _, r in names)
        self.sink.write_manifest(
            {
                "asset": self.asset.asset_id,
                "fingerprint": fingerprint,
                "parts": [{"file": f"part-{n}.parquet", "rows": r} for n, r in names],
                "rows": rows,
                "schema": [{"name": f.name, "type": str(f.type)} for f in self.projection.schema],
            }
        )
        self.sink.clear_staging()
        elapsed = time.monotonic() - started
        log.info("copied %s: %d rows in %.1f s", self.asset.asset_id, rows, elapsed)
        report.update(force=True, phase="Completed", rows_copied=rows, message=f"copied {rows:,} rows",
                      catalog_entry=self._catalog_entry())  # fmt: skip
        return report.status

    def _counted(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        base = self.reporter.status.rows_copied
        done = 0
        for batch in batches:
            done += batch.num_rows
            self.reporter.update(rows_copied=base + done)
            yield batch

    def _catalog_entry(self) -> dict[str, Any] | None:
        """What the catalog should record for the copy (registered by whoever reads the status)."""
        if not self.config.copy_.register_copy:
            return None
        sink = self.asset.sink
        assert sink is not None
        connection = sink.connection.wire()
        if sink.connection.kind == "file":  # where the copy is, whatever directory the module ran in
            connection["properties"] = {**connection.get("properties", {}), "path": self.sink.root}
        return {
            "sourceAsset": self.asset.asset_id,
            "catalog": self.config.copy_.catalog,
            "connection": connection,
            "format": "parquet",
            "credentialRef": sink.credential_ref,
            "columns": [{"name": f.name, "type": str(f.type)} for f in self.projection.schema],
            "actionsApplied": [a.name for a in self.asset.actions],
        }
