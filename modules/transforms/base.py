"""What a transform is: a declared schema change plus a vectorised function on record batches.

`output_schema` is computed from the input schema alone (no data), so a module knows and serves the
schema of what it will send before it reads anything; `apply` must return batches of exactly that
schema. Transforms see whole Arrow arrays and never loop over rows in Python.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import pyarrow as pa


class Transform(ABC):
    """One policy action bound to its arguments."""

    action: str

    @abstractmethod
    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        """The schema `apply` produces from batches of `schema`."""

    @abstractmethod
    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Transform one batch (of the schema `output_schema` was given)."""

    def reads(self) -> frozenset[str]:
        """Source columns this transform needs even when the client did not ask for them."""
        return frozenset()

    def replaces(self) -> frozenset[str]:
        """Columns whose source values this transform throws away: they need not be read at all."""
        return frozenset()

    def without_reading(self, fields: list[pa.Field]) -> Transform:
        """This transform for batches that lack `fields` (from `replaces()`), which it must then add."""
        if fields:
            raise NotImplementedError(f"{type(self).__name__} cannot add columns")
        return self


class ColumnTransform(Transform):
    """A transform of named columns; columns absent from a projection are simply not there to change."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = tuple(dict.fromkeys(columns))

    def present(self, schema: pa.Schema) -> list[int]:
        names = set(self.columns)
        return [i for i, name in enumerate(schema.names) if name in names]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self.columns)})"
