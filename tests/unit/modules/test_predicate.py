import re
from datetime import datetime

import pyarrow as pa
import pytest

from m4d.modules.predicate import PredicateError, columns, compile_predicate, parse
from m4d.modules.predicate.evaluate import evaluator

SCHEMA = pa.schema(
    [
        ("age", pa.int32()),
        ("country", pa.string()),
        ("ts", pa.timestamp("ms")),
        ("score", pa.float64()),
        ("ok", pa.bool_()),
    ]
)
TABLE = pa.table(
    {
        "age": [17, 18, 40, None],
        "country": ["DE", "FR", "DE", "US"],
        "ts": [datetime(2024, 1, d) for d in (1, 2, 3, 4)],
        "score": [1.5, None, 3.0, 4.5],
        "ok": [True, False, None, True],
    },
    schema=SCHEMA,
)


def rows(predicate: str) -> list[int | None]:
    expression, _ = compile_predicate(predicate, SCHEMA)
    return TABLE.filter(expression).column("age").to_pylist()


@pytest.mark.parametrize(
    ("predicate", "expected"),
    [
        ("country = 'DE' and age >= 18", [40]),
        ("country == 'DE' or country = 'US'", [17, 40, None]),
        ("country IN ('FR', 'US')", [18, None]),
        ("country not in ('DE')", [18, None]),
        ("age is null", [None]),
        ("age is not null and not (age < 18)", [18, 40]),
        ("ts >= timestamp '2024-01-03'", [40, None]),
        ("ts < '2024-01-02'", [17]),
        ("age between 18 and 40", [18, 40]),
        ("age not between 18 and 40", [17]),
        ("score > 2", [40, None]),
        ("ok = true", [17, None]),
        ("18 <= age", [18, 40]),
        ("\"country\" <> 'DE'", [18, None]),
        ("country = 'it''s'", []),
    ],
)
def test_predicates_select_the_right_rows(predicate: str, expected: list[int | None]) -> None:
    assert rows(predicate) == expected


def test_columns_read() -> None:
    assert columns(parse("a = 1 and (b is null or not c in (1, 2))")) == {"a", "b", "c"}


@pytest.mark.parametrize(
    ("predicate", "message"),
    [
        ("", "empty"),
        ("age = ", "expected a column or a literal"),
        ("age = 1; drop table t", "unexpected character ';'"),
        ("age = 1 -- comment", "unexpected character '-'"),
        ("__import__('os').system('id')", "unexpected character '.'"),
        ("lower(country) = 'de'", "expected a comparison operator"),
        ("nosuch = 1", "does not have"),
        ("country = 3", "cannot be compared"),
        ("age = 'x'", "cannot be compared"),
        ("ok = 1", "cannot be compared"),
        ("age = 99999999999", "does not fit"),
        ("ts > 'not a time'", "does not fit"),
        ("1 = 1", "two literals"),
        ("age = 1 and", "expected a column or a literal"),
        ("(age = 1", "')'"),
        ("age in ()", "a column or a literal"),
        ("country = 'DE' \\", "unexpected character"),
        ("date 'x' = age", "not ISO 8601"),
    ],
)
def test_bad_predicates_are_refused_with_a_reason(predicate: str, message: str) -> None:
    with pytest.raises(PredicateError, match=re.escape(message)):
        compile_predicate(predicate, SCHEMA)


def test_nesting_and_length_are_bounded() -> None:
    with pytest.raises(PredicateError, match="nests deeper"):
        compile_predicate("(" * 100 + "age = 1" + ")" * 100, SCHEMA)
    with pytest.raises(PredicateError, match="longer than"):
        compile_predicate("age = 1 or " * 1000 + "age = 2", SCHEMA)


@pytest.mark.parametrize(
    "predicate",
    [
        "country = 'DE' and age >= 18",
        "country in ('FR', 'US') or age is null",
        "country not in ('DE')",
        "not (age < 18) or score > 2",
        "age not between 18 and 40",
        "ts >= timestamp '2024-01-03' and ok = true",
        "18 <= age and not ok = false",
        "age is not null",
    ],
)
def test_the_batch_evaluator_agrees_with_the_expression(predicate: str) -> None:
    expression, tree = compile_predicate(predicate, SCHEMA)
    batch = TABLE.to_batches()[0]
    mask = evaluator(tree, SCHEMA)(batch)
    assert batch.filter(mask).equals(batch.filter(expression))
    projected = batch.select(sorted(columns(tree)))  # fewer columns, other positions
    assert projected.filter(evaluator(tree, SCHEMA)(projected)).num_rows == batch.filter(expression).num_rows


def test_null_is_neither_in_nor_not_in_a_list() -> None:
    assert rows("age not in (17)") == [18, 40]
    assert rows("not (age in (17))") == [18, 40]
