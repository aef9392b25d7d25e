"""FilterRows: keep the rows a policy predicate holds for (rows where it is null are dropped, as in SQL)."""

from __future__ import annotations

import pyarrow as pa

from m4d.modules.actions import FILTER_ROWS
from m4d.modules.predicate import columns, compile_predicate
from m4d.modules.transforms.base import Transform


class FilterRows(Transform):
    action = FILTER_ROWS

    def __init__(self, predicate: str, schema: pa.Schema) -> None:
        self.predicate = predicate
        self.expression, tree = compile_predicate(predicate, schema)
        self._reads = frozenset(columns(tree))

    def __repr__(self) -> str:
        return f"FilterRows({self.predicate!r})"

    def reads(self) -> frozenset[str]:
        return self._reads

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        return schema

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        return batch.filter(self.expression)
