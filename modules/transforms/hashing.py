"""HashColumn: replace values by their keyed hash (hex), so joins work and values do not leak."""

from __future__ import annotations

import pyarrow as pa

from m4d.modules.actions import HASH_COLUMN
from m4d.modules.keyed import KeyedHasher
from m4d.modules.transforms.base import ColumnTransform


class HashColumns(ColumnTransform):
    action = HASH_COLUMN

    def __init__(self, columns: list[str], hasher: KeyedHasher) -> None:
        super().__init__(columns)
        self.hasher = hasher

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        for i in self.present(schema):
            schema = schema.set(i, schema.field(i).with_type(pa.string()))
        return schema

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        present = self.present(batch.schema)
        if not present:
            return batch
        arrays = list(batch.columns)
        for i in present:
            arrays[i] = self.hasher.hash_array(arrays[i])
        return pa.RecordBatch.from_arrays(arrays, schema=self.output_schema(batch.schema))
