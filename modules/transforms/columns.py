"""RedactColumn and RemoveColumn: replace every value of a column by a constant, or drop the column."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from m4d.modules.actions import REDACT_COLUMN, REDACT_DEFAULT_VALUE, REMOVE_COLUMN
from m4d.modules.transforms.base import ColumnTransform


class RemoveColumns(ColumnTransform):
    action = REMOVE_COLUMN

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        drop = set(self.present(schema))
        return pa.schema([f for i, f in enumerate(schema) if i not in drop], metadata=schema.metadata)

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        drop = set(self.present(batch.schema))
        if not drop:
            return batch
        keep = [i for i in range(batch.num_columns) if i not in drop]
        return batch.select(keep)


class RedactColumns(ColumnTransform):
    """Every value becomes `value`, nulls included (a null would tell which rows had no value).

    The redacted column is a string column whatever its original type, so the constant is always
    representable; its field keeps its name and metadata. Its source values are never needed, so a
    module does not read them: the column is then added to each batch (`without_reading`).
    """

    action = REDACT_COLUMN

    def __init__(self, columns: list[str], value: str = REDACT_DEFAULT_VALUE, added: Sequence[pa.Field] = ()) -> None:
        super().__init__(columns)
        self.value = value
        self.added = tuple(pa.field(f.name, pa.string(), nullable=False, metadata=f.metadata) for f in added)
        self._constant = pa.array([], pa.string())
        self._schema: tuple[pa.Schema, pa.Schema] | None = None

    def replaces(self) -> frozenset[str]:
        return frozenset(self.columns)

    def without_reading(self, fields: list[pa.Field]) -> RedactColumns:
        if not fields:
            return self
        unknown = {f.name for f in fields} - set(self.columns)
        if unknown:
            raise ValueError(f"RedactColumns does not redact {sorted(unknown)}")
        return RedactColumns(list(self.columns), self.value, fields)

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        cached = self._schema
        if cached is not None and (cached[0] is schema or cached[0].equals(schema)):
            return cached[1]
        out = schema
        for i in self.present(schema):
            out = out.set(i, out.field(i).with_type(pa.string()).with_nullable(False))
        for field in self.added:
            if out.get_field_index(field.name) < 0:
                out = out.append(field)  # a projection puts it in the order the client asked for
        self._schema = (schema, out)  # every batch of a stream has the same schema
        return out

    def _values(self, n: int) -> pa.Array:
        # A constant array of exactly n values, kept for the next batch of the same size (most are): a
        # slice of a longer one would be copied before sending (transforms.compact), a fitting one is not.
        constant = self._constant  # one read: concurrent streams may replace it meanwhile
        if len(constant) != n:
            constant = pa.nulls(n, pa.string()).fill_null(self.value)
            self._constant = constant
        return constant

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        present = self.present(batch.schema)
        schema = self.output_schema(batch.schema)
        if not present and schema.names == batch.schema.names:
            return batch
        values = self._values(batch.num_rows)
        arrays = list(batch.columns)
        for i in present:
            arrays[i] = values
        arrays += [values] * (len(schema) - len(arrays))
        return pa.RecordBatch.from_arrays(arrays, schema=schema)
