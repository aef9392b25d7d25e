"""Keyed hashing of Arrow arrays: one lowercase hex digest (64 characters) per value; nulls stay null.

Deterministic for a given key, so hashed columns still join; irreversible without the key. Non-string
values are hashed as their canonical text (the result of casting them to string), so the same number
hashes the same whatever the source format.

Two algorithms:
- `blake2s-keyed` (the default): BLAKE2s-256 in keyed mode (RFC 7693), computed for all values of an
  array at once from its own buffers (`blake2s.py`); arrays of many values go to worker processes, one
  per core (`pool.py`), small ones are hashed in the calling thread.
- `hmac-sha256`: HMAC-SHA256 (RFC 2104) through hashlib, one call per value: several times slower, for
  policies that need digests compatible with HMAC-SHA256.
"""

from __future__ import annotations

import _hashlib
import atexit
import hashlib
import logging
import os
import threading
from abc import ABC, abstractmethod
from itertools import repeat
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from m4d.modules.keyed import blake2s, pool

log = logging.getLogger(__name__)

DIGEST_HEX_LEN = 64
BLAKE2S_KEYED = "blake2s-keyed"
HMAC_SHA256 = "hmac-sha256"
ALGORITHMS = (BLAKE2S_KEYED, HMAC_SHA256)
# Lanes per compression pass in the calling thread: large enough that numpy's per-call cost is small.
_LANES = 32_768
# Arrays of at least this many values go to the worker processes (each worker gets at least this many):
# below it, the copies and the round trip cost more than they save.
_POOL_MIN_ROWS = 16_384
_LOCAL = threading.local()
_POOL_LOCK = threading.Lock()
_POOL: list[pool.Pool | None] = []  # [] not started yet; [None] not usable here
_ATEXIT: list[bool] = []
# Workers per module at most: each is a Python process (~65 MB resident); a module on a large node
# serves a few streams, not dozens.
_MAX_WORKERS = 8


def _scratch() -> blake2s.Scratch:
    s: blake2s.Scratch | None = getattr(_LOCAL, "scratch", None)
    if s is None or s.size != _LANES:
        s = _LOCAL.scratch = blake2s.Scratch(_LANES)
    return s


def _cores() -> int:
    """The cores this process may run on (its affinity, not the machine's count), at most _MAX_WORKERS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return min(cores, _MAX_WORKERS)


def _workers() -> pool.Pool | None:
    with _POOL_LOCK:
        if not _POOL:
            cores = _cores()
            _POOL.append(pool.Pool(cores) if cores > 1 and hasattr(os, "memfd_create") else None)
            if not _ATEXIT:
                atexit.register(shutdown)
                _ATEXIT.append(True)
        return _POOL[0]


def shutdown(disable: bool = False) -> None:
    """Stop the hash worker processes (they also stop when this process exits); `disable`: for good."""
    with _POOL_LOCK:
        if _POOL and _POOL[0] is not None:
            _POOL[0].close()
        _POOL.clear()
        if disable:
            _POOL.append(None)


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
        # From Arrow's pool, which recycles memory (a fresh numpy array would be new, zeroed pages each time).
        out = np.frombuffer(pa.allocate_buffer(n * DIGEST_HEX_LEN), dtype=np.uint8).reshape(n, DIGEST_HEX_LEN)
        workers = _workers() if n >= _POOL_MIN_ROWS else None
        if workers is not None:
            try:
                workers.hexdigest(self._start, self._empty, values, out, _POOL_MIN_ROWS)
                return out.reshape(-1)
            except pool.HashWorkerError as error:
                log.warning("hashing in this process instead: %s", error)
                if isinstance(error, pool.WorkerStartError):
                    shutdown(disable=True)
        blake2s.hexdigest_many(self._start, self._empty, values, out, _scratch())
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
