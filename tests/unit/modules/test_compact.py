"""Compaction: what the IPC writer sends of a batch holds only the batch's own values; plain types."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from m4d.errors import InvalidError
from m4d.modules.transforms.compact import compact, fits, plain_batch, plain_schema, plain_type

MARK = "§"

# Arrays of every layout a module serves, built from per-row values so a slice's values are known.
LAYOUTS = {
    "string": lambda v: pa.array(v, pa.string()),
    "large_string": lambda v: pa.array(v, pa.large_string()),
    "binary": lambda v: pa.array([x.encode() if x is not None else None for x in v], pa.binary()),
    "large_binary": lambda v: pa.array([x.encode() if x is not None else None for x in v], pa.large_binary()),
    "list": lambda v: pa.array([[x, x] if x is not None else None for x in v], pa.list_(pa.string())),
    "large_list": lambda v: pa.array([[x] if x is not None else None for x in v], pa.large_list(pa.string())),
    "nested": lambda v: pa.array([[[x]] if x is not None else None for x in v], pa.list_(pa.list_(pa.string()))),
    "fixed_list": lambda v: pa.array([[x, x] for x in v], pa.list_(pa.string(), 2)),
    "struct": lambda v: pa.array([{"s": x} for x in v], pa.struct([("s", pa.string())])),
    "map": lambda v: pa.array([[("k", x)] for x in v], pa.map_(pa.string(), pa.string())),
}


def ipc_bytes(batch: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return bytes(sink.getvalue().to_pybytes())


@settings(max_examples=200, deadline=None)
@given(
    layout=st.sampled_from(sorted(LAYOUTS)),
    rows=st.integers(1, 80),
    data=st.data(),
)
def test_a_compacted_slice_sends_no_byte_of_the_rows_outside_it(layout: str, rows: int, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, rows - 1))
    length = data.draw(st.integers(0, rows - start))
    nulls = data.draw(st.lists(st.booleans(), min_size=rows, max_size=rows))
    values = [
        None if nulls[i] and layout not in ("fixed_list", "struct", "map") else (
            f"in-{i}" if start <= i < start + length else f"{MARK}{i:04d}{MARK}"
        )
        for i in range(rows)
    ]  # fmt: skip
    batch = pa.record_batch([LAYOUTS[layout](values), pa.array(range(rows), pa.int32())], names=["v", "n"])
    cut = compact(batch.slice(start, length))
    assert all(fits(c) for c in cut.columns)
    assert cut.equals(batch.slice(start, length))
    assert MARK.encode() not in ipc_bytes(cut)


def test_the_writer_would_leak_without_compaction() -> None:
    values = pa.array([f"kept-{i}" if i < 3 else f"{MARK}excluded-{i}" for i in range(10)])
    sliced = pa.record_batch([values], names=["v"]).slice(0, 3)
    assert not fits(sliced.column(0))
    assert MARK.encode() in ipc_bytes(sliced)
    assert MARK.encode() not in ipc_bytes(compact(sliced))


def test_fitting_arrays_are_sent_as_they_are() -> None:
    batch = pa.record_batch({"s": ["a", "bb", None], "i": [1, 2, 3], "b": [True, False, None]})
    assert compact(batch) is batch
    whole = pa.record_batch({"i": pa.array(range(64), pa.int64())})
    assert compact(whole.slice(0, 64)).column(0) is not None and fits(whole.slice(0, 64).column(0))
    assert not fits(whole.slice(0, 9).column(0)) and not fits(whole.slice(1, 63).column(0))


def test_stray_bits_after_the_last_boolean_are_not_sent() -> None:
    flags = pa.array([True] * 10)
    nine = flags.slice(0, 9)  # the same two bytes: bit 9 is a row outside the slice
    assert not fits(nine)
    copied = compact(pa.record_batch([nine], names=["f"])).column(0)
    assert fits(copied)
    assert copied.buffers()[1].to_pybytes()[1] == 0x01


def test_redaction_constants_fit() -> None:
    from m4d.modules.transforms.columns import RedactColumns  # noqa: PLC0415

    redact = RedactColumns(["s"])
    batch = pa.record_batch({"s": ["a"] * 100})
    for n in (100, 7, 100):
        out = redact.apply(batch.slice(0, n) if n < 100 else batch)
        assert fits(out.column(0))


def test_dictionaries_views_and_run_ends_are_served_plain() -> None:
    dictionary = pa.array(["a", "b", "a"]).dictionary_encode()
    view = pa.array(["x", "y", "z"], pa.string_view())
    run_ends = pc.run_end_encode(pa.array([1, 1, 2]))
    nested = pa.array([["a"], ["b"]], pa.list_(pa.dictionary(pa.int8(), pa.string())))
    batch = pa.record_batch([dictionary, view, run_ends], names=["d", "v", "r"])
    schema = plain_schema(batch.schema)
    assert schema.types == [pa.string(), pa.large_string(), pa.int64()]
    plain = plain_batch(batch, schema)
    assert plain.column("d").to_pylist() == ["a", "b", "a"]
    assert plain.column("r").to_pylist() == [1, 1, 2]
    assert plain_type(nested.type, "n") == pa.list_(pa.string())
    # A dictionary holds every row's value, so compaction refuses one that was not decoded.
    with pytest.raises(TypeError, match="decode it first"):
        compact(pa.record_batch([dictionary.slice(1)], names=["d"]))


def test_types_a_module_cannot_serve_are_refused_by_name() -> None:
    union = pa.sparse_union([pa.field("a", pa.int32())])
    with pytest.raises(InvalidError, match="u: has type"):
        plain_schema(pa.schema([pa.field("u", union)]))
