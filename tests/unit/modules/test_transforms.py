import hashlib
from datetime import datetime

import pyarrow as pa
import pytest

from m4d.api.common import Action
from m4d.errors import InvalidError
from m4d.modules import actions as A
from m4d.modules.transforms import ColumnRefused, build

KEYS = {"vault/hash-key": b"secret-hash-key"}
SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("name", pa.string()),
        ("ssn", pa.string()),
        ("email", pa.string()),
        ("country", pa.string()),
        ("ts", pa.timestamp("us")),
        ("amount", pa.float64()),
    ]
)
BATCH = pa.record_batch(
    {
        "id": [1, 2, 3, 4],
        "name": ["ann", "bob", None, "dan"],
        "ssn": ["111", "222", "333", None],
        "email": ["a@x", "b@x", "c@x", "d@x"],
        "country": ["DE", "FR", "DE", "DE"],
        "ts": [datetime(2024, 1, i) for i in (1, 2, 3, 4)],
        "amount": [1.0, 2.0, 3.0, 4.0],
    },
    schema=SCHEMA,
)


def key(ref: str) -> bytes:
    return KEYS[ref]


def h(value: str) -> str:
    return hashlib.blake2s(value.encode(), key=KEYS["vault/hash-key"]).hexdigest()


def pipeline(*actions: Action):  # type: ignore[no-untyped-def]
    return build(list(actions), SCHEMA, key)


def test_no_actions_is_the_identity() -> None:
    p = pipeline()
    assert p.output_schema == SCHEMA
    assert p.apply(BATCH).equals(BATCH)


def test_each_action_and_the_declared_schema_matches_the_data() -> None:
    p = pipeline(
        Action(name=A.REDACT_COLUMN, columns=["name"]),
        Action(name=A.REMOVE_COLUMN, columns=["ssn"]),
        Action(name=A.HASH_COLUMN, columns=["email"], options={"keyRef": "vault/hash-key"}),
        Action(name=A.FILTER_ROWS, options={"predicate": "country = 'DE'"}),
    )
    out = p.apply(BATCH)
    assert out.schema == p.output_schema
    assert out.schema.names == ["id", "name", "email", "country", "ts", "amount"]
    assert out.column("id").to_pylist() == [1, 3, 4]
    assert out.column("name").to_pylist() == [A.REDACT_DEFAULT_VALUE] * 3  # nulls too: no tell-tale
    assert out.column("email").to_pylist() == [h("a@x"), h("c@x"), h("d@x")]
    assert p.actions == [A.FILTER_ROWS, A.HASH_COLUMN, A.REDACT_COLUMN, A.REMOVE_COLUMN]


def test_redact_value_option_and_non_string_columns() -> None:
    p = pipeline(Action(name=A.REDACT_COLUMN, columns=["amount", "ts"], options={"value": "***"}))
    out = p.apply(BATCH)
    assert out.schema.field("amount").type == pa.string()
    assert out.column("ts").to_pylist() == ["***"] * 4
    # Larger batches reuse and grow the cached constant.
    big = pa.RecordBatch.from_arrays(
        [pa.array(range(5000)), *[pa.nulls(5000, f.type) for f in SCHEMA][1:]], schema=SCHEMA
    )
    assert p.apply(big).column("amount").to_pylist() == ["***"] * 5000


def test_the_strictest_action_wins_on_a_column() -> None:
    p = pipeline(
        Action(name=A.HASH_COLUMN, columns=["name", "ssn"], options={"keyRef": "vault/hash-key"}),
        Action(name=A.REDACT_COLUMN, columns=["name"]),
        Action(name=A.REMOVE_COLUMN, columns=["ssn"]),
    )
    out = p.apply(BATCH)
    assert "ssn" not in out.schema.names
    assert out.column("name").to_pylist() == [A.REDACT_DEFAULT_VALUE] * 4


def test_projection_reads_filter_columns_but_sends_only_what_was_asked() -> None:
    p = pipeline(
        Action(name=A.FILTER_ROWS, options={"predicate": "country = 'FR'"}),
        Action(name=A.REMOVE_COLUMN, columns=["ssn"]),
    )
    proj = p.project(["amount", "id"])
    assert proj.read == ["id", "country", "amount"]
    out = proj.apply(BATCH.select(proj.read))
    assert out.schema == proj.schema
    assert out.to_pydict() == {"amount": [2.0], "id": [2]}


def test_redacted_columns_are_not_read_unless_a_filter_needs_them() -> None:
    redact = Action(name=A.REDACT_COLUMN, columns=["name", "ssn"], options={"value": "X"})
    p = pipeline(redact)
    proj = p.project(["name", "id", "ssn"])
    assert proj.read == ["id"]  # the redacted values never leave the store
    out = proj.apply(BATCH.select(proj.read))
    assert out.schema == proj.schema and out.schema.names == ["name", "id", "ssn"]
    assert out.to_pydict() == {"name": ["X"] * 4, "id": [1, 2, 3, 4], "ssn": ["X"] * 4}
    assert p.project(None).schema == p.output_schema  # the full schema, in the source's order
    only = p.project(["ssn", "name"])  # one other column is read, for the row counts
    assert only.read == ["id"]
    assert only.apply(BATCH.select(only.read)).to_pydict() == {"ssn": ["X"] * 4, "name": ["X"] * 4}
    hidden = pipeline(redact, Action(name=A.REMOVE_COLUMN, columns=["id"])).project(["name"])
    assert hidden.read == ["ts"]  # fixed-width, neither redacted nor removed
    filtered = pipeline(redact, Action(name=A.FILTER_ROWS, options={"predicate": "name = 'bob'"})).project(["name"])
    assert filtered.read == ["name"]
    assert filtered.apply(BATCH.select(filtered.read)).to_pydict() == {"name": ["X"]}


def test_asking_for_a_removed_or_unknown_column_is_refused_by_name() -> None:
    p = pipeline(Action(name=A.REMOVE_COLUMN, columns=["ssn"]))
    with pytest.raises(ColumnRefused, match="'ssn' was removed by policy"):
        p.project(["id", "ssn"])
    with pytest.raises(ColumnRefused, match="no column 'nope'"):
        p.project(["nope"])


def test_every_configuration_problem_is_reported_at_once_before_any_data() -> None:
    with pytest.raises(InvalidError) as info:
        pipeline(
            Action(name="EncryptColumn", columns=["ssn"]),
            Action(name=A.REDACT_COLUMN, columns=["SSN"]),
            Action(name=A.HASH_COLUMN, columns=["email"]),
            Action(name=A.HASH_COLUMN, columns=["email"], options={"keyRef": "k", "algorithm": "md5"}),
            Action(name=A.FILTER_ROWS, options={"predicate": "country = "}),
            Action(name=A.REMOVE_COLUMN, columns=["ssn"], options={"why": "x"}),
            Action(name=A.FILTER_ROWS),
        )
    text = str(info.value)
    for expected in (
        "unknown action 'EncryptColumn'",
        "no column 'SSN'",
        "keyRef: is required",
        "algorithm: must be one of",
        "expected a column or a literal",
        "takes no option(s) ['why']",
        "predicate: is required",
    ):
        assert expected in text
    assert len(info.value.errors) == 7


def test_an_unresolvable_key_is_a_start_up_error_without_the_secret() -> None:
    def failing(ref: str) -> bytes:
        raise InvalidError("credential", [])

    with pytest.raises(InvalidError, match=r"actions\[0\]"):
        build([Action(name=A.HASH_COLUMN, columns=["email"], options={"keyRef": "x"})], SCHEMA, failing)


def test_filters_copy_only_when_they_must() -> None:
    batch = pa.record_batch({"id": list(range(10)), "country": ["DE"] * 10})
    schema = batch.schema

    def run(predicate: str) -> pa.RecordBatch:
        return build([Action(name=A.FILTER_ROWS, options={"predicate": predicate})], schema, key).apply(batch)

    everything = run("id >= 0")
    assert everything.column(0).buffers()[1].address == batch.column(0).buffers()[1].address
    window = run("id between 3 and 6")  # one run of rows: a slice of the same buffers
    assert window.column("id").to_pylist() == [3, 4, 5, 6]
    assert window.column(0).buffers()[1].address == batch.column(0).buffers()[1].address
    assert run("id in (1, 3)").column("id").to_pylist() == [1, 3]
    assert run("id < 0").num_rows == 0
