"""What leaves a module holds the bytes of the rows and columns it sends, and nothing else.

An Arrow slice shares its buffers with the array it was cut from, and Arrow's IPC writer sends a
buffer cut to the slice padded to a 64-byte multiple with the bytes that really follow it in memory: the
values of the next rows, which a filter may have excluded. A dictionary array sends its whole dictionary,
values of every row. So sources decode dictionaries (`plain_schema`, `plain_batch`) and, before a batch
is sent or written, `compact` copies every array whose buffers hold anything beyond what it references
(an offset, a buffer longer than needed whose extra bytes are not zero, stray bits after the last value)
into buffers that hold exactly that. An array that already fits is passed on as it is: no copy.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.types as pat

from m4d.errors import FieldError, InvalidError

# The IPC writer pads the buffers it cuts to this multiple (Arrow's kArrowAlignment).
WRITER_ALIGNMENT = 64


def _is_fixed_width(t: pa.DataType) -> bool:
    return bool(
        pat.is_integer(t)
        or pat.is_floating(t)
        or pat.is_decimal(t)
        or pat.is_temporal(t)
        or pat.is_fixed_size_binary(t)
        or pat.is_interval(t)
    )


def plain_type(t: pa.DataType, name: str) -> pa.DataType:
    """The type a column is served as: dictionaries decoded, views as their dense type; InvalidError for
    a type this module cannot serve without sending more than the values (unions, extension types)."""
    if isinstance(t, pa.BaseExtensionType):
        return plain_type(t.storage_type, name)
    if pat.is_dictionary(t):
        return plain_type(t.value_type, name)
    if pat.is_run_end_encoded(t):
        return plain_type(t.value_type, name)
    if pat.is_string_view(t):
        return pa.large_string()
    if pat.is_binary_view(t):
        return pa.large_binary()
    if pat.is_list_view(t) or pat.is_large_list_view(t):
        item = t.value_field
        wrap = pa.list_ if pat.is_list_view(t) else pa.large_list
        return wrap(item.with_type(plain_type(item.type, name)))
    if pat.is_list(t) or pat.is_large_list(t) or pat.is_fixed_size_list(t):
        item = t.value_field
        inner = item.with_type(plain_type(item.type, name))
        if pat.is_fixed_size_list(t):
            return pa.list_(inner, t.list_size)
        return pa.list_(inner) if pat.is_list(t) else pa.large_list(inner)
    if pat.is_map(t):
        key, item = t.key_field, t.item_field
        return pa.map_(key.with_type(plain_type(key.type, name)), item.with_type(plain_type(item.type, name)))
    if pat.is_struct(t):
        return pa.struct([f.with_type(plain_type(f.type, name)) for f in t])
    if (
        pat.is_null(t)
        or pat.is_boolean(t)
        or _is_fixed_width(t)
        or pat.is_string(t)
        or pat.is_binary(t)
        or pat.is_large_string(t)
        or pat.is_large_binary(t)
    ):
        return t
    raise InvalidError("asset schema", [FieldError(name, f"has type {t}, which modules cannot serve")])


def plain_schema(schema: pa.Schema) -> pa.Schema:
    """`schema` with every column as `plain_type` makes it (InvalidError naming a column it cannot serve)."""
    fields = [f.with_type(plain_type(f.type, f.name)) for f in schema]
    return pa.schema(fields, metadata=schema.metadata)


def plain_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """`batch` with its columns cast to `schema`, the plain form of its own (decoding copies)."""
    columns = batch.columns
    if all(c.type.equals(f.type) for c, f in zip(columns, schema, strict=True)):
        return batch
    arrays = [c if c.type.equals(f.type) else _decode(c, f.type) for c, f in zip(columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _decode(array: pa.Array, target: pa.DataType) -> pa.Array:
    if isinstance(array.type, pa.BaseExtensionType):
        array = array.storage
    if pat.is_run_end_encoded(array.type):
        array = pc.run_end_decode(array)
    if pat.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array if array.type.equals(target) else array.cast(target)


# -- compaction ----------------------------------------------------------------------------------


def _quiet(buffer: pa.Buffer | None, needed: int, tail_bits: int = 0) -> bool:
    """True when what the IPC writer would send of `buffer` beyond its first `needed` bytes is zero,
    and so are the bits after the last value in a bitmap's last byte (`tail_bits`: bits used of it)."""
    if buffer is None:
        return True
    end = min(buffer.size, -(-needed // WRITER_ALIGNMENT) * WRITER_ALIGNMENT)
    if end < needed:
        return False  # shorter than its values: not an array this function understands
    start = needed - 1 if tail_bits and needed else needed
    if end <= start:
        return True
    extra = np.frombuffer(buffer, dtype=np.uint8, count=end - start, offset=start)
    if tail_bits and needed:
        if int(extra[0]) >> tail_bits:
            return False
        extra = extra[1:]
    return not extra.any()


def _bitmap(buffer: pa.Buffer | None, length: int) -> bool:
    return _quiet(buffer, -(-length // 8), length % 8)


def _offsets_fit(offsets: pa.Buffer, length: int, large: bool) -> int | None:
    """The number of child values (or bytes) a zero-based offsets buffer references; None if it is not
    zero-based or carries stray bytes."""
    width = 8 if large else 4
    if not _quiet(offsets, (length + 1) * width):
        return None
    values = np.frombuffer(offsets, dtype=np.int64 if large else np.int32, count=length + 1)
    if values[0] != 0:
        return None
    return int(values[length])


def fits(array: pa.Array) -> bool:
    """Whether `array` can be written as it is: no offset, and nothing but zeros in any buffer beyond
    what its values use (recursively, for nested types)."""
    if array.offset != 0:
        return False
    t, n = array.type, len(array)
    buffers = array.buffers()
    if pat.is_null(t):
        return True
    if not _bitmap(buffers[0], n):
        return False
    if pat.is_boolean(t):
        return _bitmap(buffers[1], n)
    if _is_fixed_width(t):
        return _quiet(buffers[1], n * (t.bit_width // 8))
    if pat.is_string(t) or pat.is_binary(t) or pat.is_large_string(t) or pat.is_large_binary(t):
        large = pat.is_large_string(t) or pat.is_large_binary(t)
        used = _offsets_fit(buffers[1], n, large)
        return used is not None and _quiet(buffers[2], used)
    if pat.is_list(t) or pat.is_large_list(t) or pat.is_map(t):
        used = _offsets_fit(buffers[1], n, pat.is_large_list(t))
        return used is not None and fits(_child(array, used))
    if pat.is_fixed_size_list(t):
        return fits(_child(array, n * t.list_size))
    if pat.is_struct(t):
        return all(fits(array.field(i)) for i in range(t.num_fields))
    return False


def _child(array: pa.Array, used: int) -> pa.Array:
    values: pa.Array = array.values
    return values if len(values) == used else values.slice(0, used)


def _compacted(array: pa.Array) -> pa.Array:
    if fits(array):
        return array
    if pat.is_dictionary(array.type) or pat.is_union(array.type) or pat.is_run_end_encoded(array.type):
        # A copy would keep the whole dictionary (or every child): sources decode these (plain_batch).
        raise TypeError(f"a {array.type} array cannot be compacted; decode it first")
    return pa.concat_arrays([array])


def compact(batch: pa.RecordBatch) -> pa.RecordBatch:
    """`batch` with every array that does not `fit` copied into exactly sized buffers."""
    columns = batch.columns
    copied = [_compacted(column) for column in columns]
    if all(a is b for a, b in zip(copied, columns, strict=True)):
        return batch
    return pa.RecordBatch.from_arrays(copied, schema=batch.schema)
