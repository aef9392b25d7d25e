"""An asset as a module serves it: its store opened, its policy transforms built and checked at start-up."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from m4d.api.blueprint import ModuleAsset
from m4d.credentials import CredentialStore, Scrubber, entry
from m4d.errors import FieldError, InvalidError
from m4d.modules.actions import KEY_ENTRY
from m4d.modules.config import ColumnSpec, ModuleConfig
from m4d.modules.sinks import ParquetSink
from m4d.modules.sources import Source, locate, open_source
from m4d.modules.transforms import KeyResolver, Pipeline, build


def key_resolver(credentials: CredentialStore | None, scrub: Scrubber) -> KeyResolver:
    def resolve(ref: str) -> bytes:
        if credentials is None:
            raise InvalidError("HashColumn", [FieldError("options.keyRef", "no credential store is configured")])
        values = credentials.resolve(ref)
        scrub.add(values.values())
        return entry(values, ref, (KEY_ENTRY,)).encode()

    return resolve


@dataclass
class ReadableAsset:
    asset: ModuleAsset
    source: Source
    pipeline: Pipeline

    @classmethod
    def open(
        cls, asset: ModuleAsset, config: ModuleConfig, credentials: CredentialStore | None, scrub: Scrubber
    ) -> ReadableAsset:
        if asset.source is None:
            raise InvalidError(f"asset {asset.asset_id}", [FieldError("source", "is required to read or copy")])
        source = open_source(
            asset.source,
            credentials,
            scrub,
            batch_rows=config.batch_rows,
            rows_per_partition=config.rows_per_partition,
        )
        pipeline = build(asset.actions, source.schema, key_resolver(credentials, scrub), f"asset {asset.asset_id}")
        source.partitions()  # every file's footer read and checked now, not at the first request
        return cls(asset, source, pipeline)


def arrow_type(name: str) -> pa.DataType:
    try:
        return pa.type_for_alias(name)
    except (ValueError, KeyError):
        raise InvalidError("catalog column", [FieldError("type", f"{name!r} is not an Arrow type name")]) from None


def check_schema(schema: pa.Schema, columns: list[ColumnSpec], what: str) -> None:
    """`schema` must have exactly the catalog's columns, with its types where the catalog gives them."""
    errors: list[FieldError] = []
    expected = {c.name: c for c in columns}
    for name in schema.names:
        if name not in expected:
            errors.append(FieldError(name, "is not a column of the catalog's schema"))
    for spec in columns:
        index = schema.get_field_index(spec.name)
        if index < 0:
            errors.append(FieldError(spec.name, "is missing"))
            continue
        field = schema.field(index)
        if spec.type is not None and not field.type.equals(arrow_type(spec.type)):
            errors.append(FieldError(spec.name, f"has type {field.type}, the catalog says {spec.type}"))
    if errors:
        raise InvalidError(what, errors)


@dataclass
class WritableAsset:
    asset: ModuleAsset
    sink: ParquetSink
    columns: list[ColumnSpec] | None
    keys: KeyResolver

    @classmethod
    def open(
        cls, asset: ModuleAsset, config: ModuleConfig, credentials: CredentialStore | None, scrub: Scrubber
    ) -> WritableAsset:
        store = asset.sink or asset.source
        if store is None:
            raise InvalidError(f"asset {asset.asset_id}", [FieldError("sink", "is required to write")])
        if (store.format or "parquet").lower() != "parquet":
            raise InvalidError(f"asset {asset.asset_id}", [FieldError("sink.format", "only parquet can be written")])
        location = locate(store.connection, store.credential_ref, credentials, scrub)
        columns = config.catalog_columns.get(asset.asset_id)
        if columns:
            for spec in columns:
                if spec.type is not None:
                    arrow_type(spec.type)
        return cls(asset, ParquetSink(location), columns, key_resolver(credentials, scrub))

    def pipeline_for(self, schema: pa.Schema) -> Pipeline:
        """Check an incoming schema against the catalog's (or the data already there), then build the
        write-flow transforms for it."""
        what = f"data written to {self.asset.asset_id}"
        if self.columns:
            check_schema(schema, self.columns, what)
        pipeline = build(self.asset.actions, schema, self.keys, f"asset {self.asset.asset_id}")
        existing = None if self.columns else self.sink.existing_schema()
        if existing is not None:
            # Without a catalog schema, what is already there is the reference for what is added.
            out = pipeline.output_schema
            if out.names != existing.names or out.types != existing.types:
                have = ", ".join(f"{f.name}: {f.type}" for f in out)
                want = ", ".join(f"{f.name}: {f.type}" for f in existing)
                raise InvalidError(what, [FieldError("schema", f"is ({have}); the asset's data has ({want})")])
        return pipeline
