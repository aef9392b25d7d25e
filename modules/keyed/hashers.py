"""Keyed hashing of Arrow arrays: one lowercase hex digest (64 characters) per value; nulls stay null.

Deterministic for a given key, so hashed columns still join; irreversible without the key. Non-string
values are hashed as their canonical text (the result of casting them to string), so the same number
hashes the same whatever the source format.

Two algorithms:
- `blake2s-keyed` (the default): BLAKE2s-256 in keyed mode (RFC 7693), computed for all values of an
  array at once from its own buffers (`blake2s.py`); large arrays are split over the cores, as numpy
  releases the GIL while it computes.
- `hmac-sha256`: HMAC-SHA256 (RFC 2104) through hashlib, one call per value: several times slower, for
  policies that need digests compatible with HMAC-SHA256.
"""

from __future__ import annotations

import _hashlib
import hashlib
import os
import threading
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from itertools import repeat
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from m4d.modules.keyed import blake2s

DIGEST_HEX_LEN = 64
BLAKE2S_KEYED = "blake2s-keyed"
HMAC_SHA256 = "hmac-sha256"
ALGORITHMS = (BLAKE2S_KEYED, HMAC_SHA256)
# Lanes per compression pass: large enough that numpy's per-call cost is small, small enough that the
# state stays in the core's cache. Arrays of at least _PARALLEL_MIN_ROWS are split over the cores when
# no other array is being hashed: concurrent streams already use the cores, and splitting them further
# only adds contention for the GIL (a third more CPU per row, measured).
_LANES = 32_768
_PARALLEL_MIN_ROWS = 16_384
_POOL: list[ThreadPoolExecutor] = []
_BUSY = [0]  # arrays being hashed now, across threads
_BUSY_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="m4d-hash"))
    return _POOL[0]


def _hex_digits(digest: np.ndarray, out: np.ndarray) -> None:
    """Lowercase hex of each byte of `digest` into `out`, one little-endian uint16 (two characters) per byte.

    Arithmetic on all bytes at once: the high nibble goes to the low byte (the first character); a nibble
    n becomes '0' + n, plus 39 more ('a' - '0' - 10) when n + 6 carries into bit 4, i.e. when n >= 10.
    """
    v = digest.astype(np.uint16)
    high = v >> 4
    v &= 0x0F
    v <<= 8
    v |= high
    letters = v + 0x0606
    letters >>= 4
    letters &= 0x0101
    letters *= 39
    v += 0x3030
    np.add(v, letters, out=out)


def _binary(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """`values` as a string/binary array (32- or 64-bit offsets) whose bytes are hashed."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    t = values.type
    if pa.types.is_string(t) or pa.types.is_binary(t) or pa.types.is_large_string(t) or pa.types.is_large_binary(t):
        return values
    if pa.types.is_string_view(t) or pa.types.is_binary_view(t):
        return values.cast(pa.large_binary())
    return pc.cast(values, pa.string())


def _as_strings(values: pa.Array, hex_digits: np.ndarray) -> pa.StringArray:
    n = len(values)
    offsets = pa.py_buffer(np.arange(0, (n + 1) * DIGEST_HEX_LEN, DIGEST_HEX_LEN, dtype=np.int32))
    validity = values.is_valid().buffers()[1] if values.null_count else None
    return pa.Array.from_buffers(pa.string(), n, [validity, offsets, pa.py_buffer(hex_digits)], values.null_count)


class KeyedHasher(ABC):
    """A keyed hash under one key. The key never leaves the object (and is not in its repr)."""

    algorithm: ClassVar[str]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(algorithm={self.algorithm!r})"

    def hash_array(self, values: pa.Array | pa.ChunkedArray) -> pa.StringArray:
        """One hex digest per value of `values`; null where the value is null."""
        data = _binary(values)
        if len(data) == 0:
            return pa.array([], pa.string())
        return _as_strings(data, self._hex(data))

    @abstractmethod
    def _hex(self, values: pa.Array) -> np.ndarray:
        """The hex digests of non-null `values`, as a 2-D array of ASCII bytes (one row per value)."""


class KeyedBlake2s(KeyedHasher):
    """BLAKE2s-256, keyed. Keys of more than 32 bytes are first reduced to their (unkeyed) BLAKE2s-256."""

    algorithm = BLAKE2S_KEYED

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("the hash key is empty")
        if len(key) > blake2s.MAX_KEY:
            key = hashlib.blake2s(key).digest()
        self._start, self._empty = blake2s.keyed_state(key)

    def _hex(self, values: pa.Array) -> np.ndarray:
        n = len(values)
        large = pa.types.is_large_string(values.type) or pa.types.is_large_binary(values.type)
        values = values.cast(pa.large_binary() if large else pa.binary())  # the bytes, as they are
        if values.null_count:
            values = values.fill_null(b"")  # hashed, then masked by the validity
        out = np.empty((n, 2 * blake2s.DIGEST_SIZE), dtype=np.uint8)

        def run(first: int, last: int) -> None:
            for lo in range(first, last, _LANES):
                hi = min(lo + _LANES, last)
                words = blake2s.digest_many(self._start, self._empty, values.slice(lo, hi - lo))
                digest = np.ascontiguousarray(words.T).astype("<u4", copy=False).view(np.uint8)
                _hex_digits(digest, out[lo:hi].view("<u2"))

        with _BUSY_LOCK:
            _BUSY[0] += 1
            alone = _BUSY[0] == 1
        try:
            parts = os.cpu_count() or 1
            if n < _PARALLEL_MIN_ROWS or parts < 2 or not alone:
                run(0, n)
            else:
                step = -(-n // parts)
                list(_pool().map(lambda first: run(first, min(first + step, n)), range(0, n, step)))
        finally:
            with _BUSY_LOCK:
                _BUSY[0] -= 1
        return out.reshape(-1)


class HmacSha256(KeyedHasher):
    """HMAC-SHA256 through hashlib (one call per value)."""

    algorithm = HMAC_SHA256

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("the hash key is empty")
        self._key = key

    def _hex(self, values: pa.Array) -> np.ndarray:
        blobs = values.cast(pa.large_binary()).fill_null(b"").to_pylist()
        digests = b"".join(map(_hashlib.hmac_digest, repeat(self._key), blobs, repeat("sha256")))
        return np.frombuffer(digests.hex().encode(), dtype=np.uint8)


def hasher(algorithm: str, key: bytes) -> KeyedHasher:
    """The hasher for `algorithm` (one of ALGORITHMS) under `key`."""
    if algorithm == BLAKE2S_KEYED:
        return KeyedBlake2s(key)
    if algorithm == HMAC_SHA256:
        return HmacSha256(key)
    raise ValueError(f"unknown hash algorithm {algorithm!r}; known: {ALGORITHMS}")
