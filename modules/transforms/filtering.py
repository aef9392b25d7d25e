"""FilterRows: keep the rows a policy predicate holds for (rows where it is null are dropped, as in SQL)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from m4d.modules.actions import FILTER_ROWS
from m4d.modules.predicate import columns, compile_predicate
from m4d.modules.predicate.evaluate import evaluator
from m4d.modules.transforms.base import Transform


class FilterRows(Transform):
    action = FILTER_ROWS

    def __init__(self, predicate: str, schema: pa.Schema) -> None:
        self.predicate = predicate
        self.expression, tree = compile_predicate(predicate, schema)
        self._mask = evaluator(tree, schema)
        self._reads = frozenset(columns(tree))

    def __repr__(self) -> str:
        return f"FilterRows({self.predicate!r})"

    def reads(self) -> frozenset[str]:
        return self._reads

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        return schema

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        mask = self._mask(batch)
        if isinstance(mask, pa.ChunkedArray):
            mask = mask.combine_chunks()
        kept = mask.true_count
        if kept == len(mask):
            return batch  # every row passes: no copy
        if kept == 0:
            return batch.slice(0, 0)
        # One contiguous run of kept rows (a time range over time-ordered data, say) is a zero-copy slice.
        first = pc.index(mask, True).as_py()
        if mask.slice(first, kept).true_count == kept:
            return batch.slice(first, kept)
        return batch.filter(mask)
