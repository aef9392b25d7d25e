"""Keyed hashing of Arrow arrays: HMAC-SHA256 (RFC 2104), one lowercase hex digest per value.

Deterministic for a given key, so hashed columns still join; irreversible without the key. Values are
hashed from the array's own buffers in one call per slice of rows (the compiled kernel, on both cores
for large batches); nulls stay null. Non-string values are hashed as their canonical text (the result
of casting them to string), so the same number hashes the same whatever the source format.
"""

from __future__ import annotations

import _hashlib
import ctypes
import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import repeat

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from m4d.modules.keyed import native

DIGEST_HEX_LEN = 64
# Below this many rows a batch is hashed on the calling thread; above, split across the cores.
_PARALLEL_MIN_ROWS = 16_384
_SHA256_IV = (0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19)
_POOL: list[ThreadPoolExecutor] = []


def _pool() -> ThreadPoolExecutor:
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="m4d-hash"))
    return _POOL[0]


def _offsets(n: int) -> pa.Buffer:
    """int32 offsets 0, 64, 128, ... for n fixed-width hex values."""
    return pa.py_buffer(np.arange(0, (n + 1) * DIGEST_HEX_LEN, DIGEST_HEX_LEN, dtype=np.int32))


class HmacSha256:
    """HMAC-SHA256 under one key. The key never leaves this object (and is not in its repr)."""

    algorithm = "hmac-sha256"

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("the hash key is empty")
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        self._key = key
        self._kernel = native.load()
        self._inner = self._outer = None
        if self._kernel is not None:
            block = key.ljust(64, b"\0")
            self._inner = self._pad_state(bytes(b ^ 0x36 for b in block))
            self._outer = self._pad_state(bytes(b ^ 0x5C for b in block))

    def __repr__(self) -> str:
        kind = "hashlib" if self._kernel is None else ("native, SHA-NI" if self._kernel.sha_ni else "native, OpenSSL")
        return f"HmacSha256(kernel={kind})"

    def _pad_state(self, block: bytes) -> ctypes.Array[ctypes.c_uint32]:
        assert self._kernel is not None
        ctx = (ctypes.c_uint32 * 28)(*_SHA256_IV)
        self._kernel.transform_fn(ctypes.addressof(ctx), block)
        return (ctypes.c_uint32 * 8)(*ctx[:8])

    @property
    def native(self) -> bool:
        return self._kernel is not None

    def hash_array(self, values: pa.Array) -> pa.StringArray:
        """One hex digest per value of `values`; null where the value is null."""
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if not (pa.types.is_string(values.type) or pa.types.is_binary(values.type)):
            if pa.types.is_large_string(values.type) or pa.types.is_large_binary(values.type):
                pass
            elif pa.types.is_string_view(values.type) or pa.types.is_binary_view(values.type):
                values = values.cast(pa.large_binary())
            else:
                values = pc.cast(values, pa.string())
        n = len(values)
        if n == 0:
            return pa.array([], pa.string())
        validity = values.is_valid().buffers()[1] if values.null_count else None
        data = self._digest_data(values)
        return pa.Array.from_buffers(pa.string(), n, [validity, _offsets(n), data], values.null_count)

    def _digest_data(self, values: pa.Array) -> pa.Buffer:
        n = len(values)
        if self._kernel is None:
            return pa.py_buffer(self._hashlib_hex(values))
        out = pa.allocate_buffer(n * DIGEST_HEX_LEN)
        wide = 1 if values.type in (pa.large_string(), pa.large_binary()) else 0
        offsets, data = values.buffers()[1], values.buffers()[2]
        data_address = data.address if data is not None else 0
        run = self._run_kernel(offsets.address, wide, data_address, out.address, values.offset)
        if n < _PARALLEL_MIN_ROWS or (os.cpu_count() or 1) < 2:
            run(0, n)
        else:
            parts = os.cpu_count() or 1
            step = -(-n // parts)
            list(_pool().map(lambda start: run(start, min(step, n - start)), range(0, n, step)))
        return out

    def _run_kernel(
        self, offsets: int, wide: int, data: int, out: int, array_offset: int
    ) -> Callable[[int, int], None]:
        kernel = self._kernel
        assert kernel is not None and self._inner is not None and self._outer is not None
        inner, outer = ctypes.addressof(self._inner), ctypes.addressof(self._outer)

        def run(start: int, count: int) -> None:
            # ctypes releases the GIL for the call, so slices run in parallel.
            kernel.hmac_hex(
                kernel.transform, inner, outer, offsets, wide, data, array_offset + start, count,
                out + start * DIGEST_HEX_LEN,
            )  # fmt: skip

        return run

    def _hashlib_hex(self, values: pa.Array) -> bytes:
        blobs = values.cast(pa.large_binary()).fill_null(b"").to_pylist()
        return b"".join(map(_hashlib.hmac_digest, repeat(self._key), blobs, repeat("sha256"))).hex().encode()
