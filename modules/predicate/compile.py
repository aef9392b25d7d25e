"""Turn a predicate's syntax tree into a pyarrow compute expression, checked against a schema.

Literals are converted to the type of the column they meet, so `ts >= timestamp '2024-01-01'` and
`amount > 10` work on any timestamp unit or numeric width; a literal that does not fit is an error
here, at start-up, not when the first batch arrives.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from m4d.modules.predicate.lexer import PredicateError
from m4d.modules.predicate.parser import And, Between, Column, Compare, InList, IsNull, Literal, Node, Not, Or, parse


def _python_value(lit: Literal) -> Any:
    try:
        if lit.kind == "date":
            return date.fromisoformat(str(lit.value))
        if lit.kind == "timestamp":
            return datetime.fromisoformat(str(lit.value))
    except ValueError as error:
        raise PredicateError(f"{lit.kind} literal {lit.value!r} is not ISO 8601: {error}") from None
    return lit.value


def field_type(schema: pa.Schema, column: Column) -> pa.DataType:
    index = schema.get_field_index(column.name)
    if index < 0:
        raise PredicateError(f"the predicate names column {column.name!r}, which the asset does not have")
    return schema.field(index).type


def _fits(lit: Literal, target: pa.DataType) -> bool:
    t = pa.types
    textual = t.is_string(target) or t.is_large_string(target) or t.is_string_view(target)
    temporal = t.is_temporal(target)
    if lit.kind == "string":
        return bool(textual or t.is_binary(target) or t.is_large_binary(target) or temporal)
    if lit.kind == "number":
        return bool(t.is_integer(target) or t.is_floating(target) or t.is_decimal(target))
    if lit.kind == "bool":
        return bool(t.is_boolean(target))
    return bool(temporal)  # date and timestamp literals


def scalar(lit: Literal, target: pa.DataType | None) -> pa.Scalar:
    value = _python_value(lit)
    if target is None:
        return pa.scalar(value)
    if not _fits(lit, target):
        raise PredicateError(f"{lit.kind} literal {value!r} cannot be compared with a column of type {target}")
    if isinstance(value, str) and (pa.types.is_binary(target) or pa.types.is_large_binary(target)):
        value = value.encode()
    try:
        return pa.scalar(value).cast(target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OverflowError) as error:
        raise PredicateError(f"literal {value!r} does not fit a column of type {target}: {error}") from None


def _operand(side: Column | Literal, other: Column | Literal, schema: pa.Schema) -> pc.Expression:
    if isinstance(side, Column):
        field_type(schema, side)
        return pc.field(side.name)
    target = field_type(schema, other) if isinstance(other, Column) else None
    return pc.scalar(scalar(side, target))


def _compile(node: Node, schema: pa.Schema) -> pc.Expression:
    match node:
        case Compare(op=op, left=left, right=right):
            lhs, rhs = _operand(left, right, schema), _operand(right, left, schema)
            return {
                "==": lambda: lhs == rhs,
                "!=": lambda: lhs != rhs,
                "<": lambda: lhs < rhs,
                "<=": lambda: lhs <= rhs,
                ">": lambda: lhs > rhs,
                ">=": lambda: lhs >= rhs,
            }[op]()
        case InList(column=col, values=values, negated=negated):
            target = field_type(schema, col)
            options = pa.array([scalar(v, target).as_py() for v in values], type=target)
            field = pc.field(col.name)
            # SQL: a null is neither in nor not in a list (the row is dropped either way).
            expr = pc.if_else(field.is_null(), pc.scalar(pa.scalar(None, pa.bool_())), field.isin(options))
            return ~expr if negated else expr
        case IsNull(column=col, negated=negated):
            field_type(schema, col)
            return pc.field(col.name).is_valid() if negated else pc.field(col.name).is_null()
        case Between(column=col, low=low, high=high, negated=negated):
            target = field_type(schema, col)
            field = pc.field(col.name)
            expr = (field >= pc.scalar(scalar(low, target))) & (field <= pc.scalar(scalar(high, target)))
            return ~expr if negated else expr
        case And(items=items):
            result = _compile(items[0], schema)
            for item in items[1:]:
                result = result & _compile(item, schema)
            return result
        case Or(items=items):
            result = _compile(items[0], schema)
            for item in items[1:]:
                result = result | _compile(item, schema)
            return result
        case Not(item=item):
            return ~_compile(item, schema)
    raise TypeError(node)


def compile_predicate(source: str, schema: pa.Schema) -> tuple[pc.Expression, Node]:
    """The expression for `source` over `schema`; PredicateError if it does not parse or does not fit."""
    tree = parse(source)
    expression = _compile(tree, schema)
    try:
        # Bind and run it on an empty batch: type errors surface now, not mid-stream.
        result = pa.Table.from_batches([], schema=schema).filter(expression)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
        raise PredicateError(f"predicate {source!r} does not fit the asset's columns: {error}") from None
    del result
    return expression, tree
