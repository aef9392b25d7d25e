"""Evaluate a predicate on a record batch directly with compute kernels, giving a boolean mask.

The same semantics as the compiled expression (three-valued logic: a comparison with null is null, and
the filter drops null), but without building an execution plan per batch: a closure per syntax node calls
one kernel on whole columns. About twice as fast per 64K-row batch as filtering by expression.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from m4d.modules.predicate.compile import field_type, scalar
from m4d.modules.predicate.parser import And, Between, Column, Compare, InList, IsNull, Literal, Node, Not, Or

Mask = Callable[[pa.RecordBatch], Any]  # an Array or a Scalar of booleans

_COMPARE = {
    "==": pc.equal,
    "!=": pc.not_equal,
    "<": pc.less,
    "<=": pc.less_equal,
    ">": pc.greater,
    ">=": pc.greater_equal,
}


def _operand(side: Column | Literal, other: Column | Literal, schema: pa.Schema) -> Callable[[pa.RecordBatch], Any]:
    if isinstance(side, Column):
        name = side.name
        field_type(schema, side)
        return lambda batch: batch.column(name)  # by name: projected batches hold fewer columns
    value = scalar(side, field_type(schema, other) if isinstance(other, Column) else None)
    return lambda batch: value


def evaluator(node: Node, schema: pa.Schema) -> Mask:
    """A function from a batch of `schema` to the predicate's boolean mask."""
    match node:
        case Compare(op=op, left=left, right=right):
            lhs, rhs, kernel = _operand(left, right, schema), _operand(right, left, schema), _COMPARE[op]
            return lambda batch: kernel(lhs(batch), rhs(batch))
        case InList(column=col, values=values, negated=negated):
            target = field_type(schema, col)
            options = pa.array([scalar(v, target).as_py() for v in values], type=target)
            get = _operand(col, col, schema)
            if negated:
                # `x not in (...)` is null for a null x, as `not (x in (...))` is in SQL.
                return lambda batch: pc.invert(pc.if_else(pc.is_null(get(batch)), None, pc.is_in(get(batch), options)))
            return lambda batch: pc.if_else(pc.is_null(get(batch)), None, pc.is_in(get(batch), options))
        case IsNull(column=col, negated=negated):
            get = _operand(col, col, schema)
            return (lambda batch: pc.is_valid(get(batch))) if negated else (lambda batch: pc.is_null(get(batch)))
        case Between(column=col, low=low, high=high, negated=negated):
            target, get = field_type(schema, col), _operand(col, col, schema)
            lo, hi = scalar(low, target), scalar(high, target)

            def between(batch: pa.RecordBatch) -> Any:
                values = get(batch)
                inside = pc.and_kleene(pc.greater_equal(values, lo), pc.less_equal(values, hi))
                return pc.invert(inside) if negated else inside

            return between
        case And(items=items):
            parts = [evaluator(i, schema) for i in items]

            def all_of(batch: pa.RecordBatch) -> Any:
                result = parts[0](batch)
                for part in parts[1:]:
                    result = pc.and_kleene(result, part(batch))
                return result

            return all_of
        case Or(items=items):
            parts = [evaluator(i, schema) for i in items]

            def any_of(batch: pa.RecordBatch) -> Any:
                result = parts[0](batch)
                for part in parts[1:]:
                    result = pc.or_kleene(result, part(batch))
                return result

            return any_of
        case Not(item=item):
            inner = evaluator(item, schema)
            return lambda batch: pc.invert(inner(batch))
    raise TypeError(node)
