"""Keyed BLAKE2s (RFC 7693, keyed mode, 32-byte digest) over many values at once, in numpy.

Each value is one lane: the compression function runs once for all lanes of a slice, each numpy
operation working on one 32-bit word of every lane. The key block is the same for every value, so its
compression is done once per key; a value of 1..64 bytes then costs one compression, longer values one
more per further 64 bytes (run only for the lanes that have them). The results are byte-identical to
`hashlib.blake2s(value, key=key, digest_size=32)`.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

U32 = npt.NDArray[np.uint32]

BLOCK: Final = 64
DIGEST_SIZE: Final = 32
MAX_KEY: Final = 32
_IV: Final = np.array(
    [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19], dtype=np.uint32
)
_SIGMA: Final = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
    (14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3),
    (11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4),
    (7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8),
    (9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13),
    (2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9),
    (12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11),
    (13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10),
    (6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5),
    (10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0),
)
# Per round: which message words the column step and the diagonal step add (first and second add of G).
_STEPS: Final = tuple(
    ((s[0:8:2], s[1:8:2]), (s[8:16:2], s[9:16:2])) for s in _SIGMA
)  # fmt: skip
# v is kept as four quarters a, b, c, d (4 x lanes each). The diagonal step works on rows (0,5,10,15),
# (1,6,11,12), ...: b, c, d rotated by 1, 2, 3 rows. Each of b, c, d is stored with copies of some of its
# rows next to it, so that both the quarter and its rotation are contiguous views; only the copied rows
# move between the steps. b: b0 b1 b2 b3 [b0]; c: c0 c1 c2 c3 [c0 c1]; d: [d3] d0 d1 d2 d3.


def _g(a: U32, b: U32, c: U32, d: U32, x: list[U32 | None], y: list[U32 | None], t: U32) -> None:
    """The G function on four lanes-of-words at once (each argument is 4 x lanes), in place."""
    _half_g(a, b, c, d, x, 16, 12, t)
    _half_g(a, b, c, d, y, 8, 7, t)


def _half_g(a: U32, b: U32, c: U32, d: U32, words: list[U32 | None], rd: int, rb: int, t: U32) -> None:
    """Half of G: add the message words, then mix with d rotated right by rd and b by rb (t: scratch)."""
    _add_words(a, words)
    a += b
    d ^= a
    np.right_shift(d, rd, out=t)
    d <<= 32 - rd
    d |= t
    c += d
    b ^= c
    np.right_shift(b, rb, out=t)
    b <<= 32 - rb
    b |= t


def _add_words(a: U32, words: list[U32 | None]) -> None:
    # Message words past the longest value are zero in every lane: adding them is skipped.
    for i, w in enumerate(words):
        if w is not None:
            a[i] += w


class Scratch:
    """Working arrays for up to `size` lanes, reused from call to call by one thread.

    Fresh arrays of this size would come from new pages on every call, which the kernel faults in and
    zeroes: that cost as much as a third of the hashing itself, measured in a busy module.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.h = np.empty((8, size), dtype=np.uint32)
        self.words = np.empty((16, size), dtype=np.uint32)
        # v in quarters: a; b b0..b3 [b0]; c c0..c3 [c0 c1]; [d3] d0..d3 (see _STEPS).
        self.a = np.empty((4, size), dtype=np.uint32)
        self.b_rows = np.empty((5, size), dtype=np.uint32)
        self.c_rows = np.empty((6, size), dtype=np.uint32)
        self.d_rows = np.empty((5, size), dtype=np.uint32)
        self.tmp = np.empty((4, size), dtype=np.uint32)
        self.counter = np.empty(size, dtype=np.uint32)
        self.lengths = np.empty(size, dtype=np.int64)
        self.digest = np.empty((size, DIGEST_SIZE // 4), dtype="<u4")
        self.hex_v = np.empty((size, DIGEST_SIZE), dtype=np.uint16)
        self.hex_t = np.empty((size, DIGEST_SIZE), dtype=np.uint16)


def compress(
    h: U32, m: list[U32 | None], low: U32, high: U32 | None, final: npt.NDArray[np.bool_] | bool, s: Scratch
) -> None:
    """BLAKE2s's compression of one block per lane, updating h (8 x lanes) in place: m the 16 message words
    (None: zero in every lane), low and high the byte counter after this block (None: zero), final
    whether it is the last block (True: in every lane)."""
    lanes = h.shape[1]
    a, b_rows, c_rows, d_rows = s.a[:, :lanes], s.b_rows[:, :lanes], s.c_rows[:, :lanes], s.d_rows[:, :lanes]
    tmp = s.tmp[:, :lanes]
    b, c, d = b_rows[0:4], c_rows[0:4], d_rows[1:5]
    b_diagonal, c_diagonal, d_diagonal = b_rows[1:5], c_rows[2:6], d_rows[0:4]
    a[...] = h[0:4]
    b[...] = h[4:8]
    c[...] = _IV[0:4, None]
    np.bitwise_xor(low, _IV[4], out=d[0])
    if high is None:
        d[1] = _IV[5]
    else:
        np.bitwise_xor(high, _IV[5], out=d[1])
    if final is True:
        d[2] = _IV[6] ^ 0xFFFFFFFF
    else:
        d[2] = _IV[6]
        np.bitwise_xor(d[2], np.uint32(0xFFFFFFFF), out=d[2], where=final)
    d[3] = _IV[7]
    for (cx, cy), (dx, dy) in _STEPS:
        _g(a, b, c, d, [m[i] for i in cx], [m[i] for i in cy], tmp)
        b_rows[4] = b_rows[0]
        c_rows[4:6] = c_rows[0:2]
        d_rows[0] = d_rows[4]
        _g(a, b_diagonal, c_diagonal, d_diagonal, [m[i] for i in dx], [m[i] for i in dy], tmp)
        b_rows[0] = b_rows[4]
        c_rows[0:2] = c_rows[4:6]
        d_rows[4] = d_rows[0]
    h[0:4] ^= a
    h[0:4] ^= c
    h[4:8] ^= b
    h[4:8] ^= d


def keyed_state(key: bytes) -> tuple[U32, U32]:
    """The state after the key block (the start of every non-empty value) and the digest of the empty value."""
    if not 1 <= len(key) <= MAX_KEY:
        raise ValueError(f"a BLAKE2s key has 1 to {MAX_KEY} bytes")
    h = _IV.copy()
    h[0] ^= 0x01010000 ^ (len(key) << 8) ^ DIGEST_SIZE
    words = np.frombuffer(key.ljust(BLOCK, b"\0"), dtype="<u4").astype(np.uint32)
    m: list[U32 | None] = [words[i : i + 1] for i in range(16)]
    s = Scratch(1)
    start, empty = h[:, None].copy(), h[:, None].copy()
    counter = np.array([BLOCK], dtype=np.uint32)
    compress(start, m, counter, None, np.array([False]), s)
    compress(empty, m, counter, None, True, s)
    return start[:, 0].copy(), empty[:, 0].copy()


def digest_many(start: U32, empty: U32, values: pa.Array, s: Scratch) -> U32:
    """Digest words (8 x n) of the n values of a binary array without nulls, from the keyed state `start`.

    The result is a view of `s`, valid until its next use; n is at most `s.size`."""
    n = len(values)
    if n > s.size:
        raise ValueError(f"{n} values do not fit a scratch of {s.size} lanes")
    h = s.h[:, :n]
    if n == 0:
        return h
    width = 8 if pa.types.is_large_binary(values.type) else 4
    offsets = np.frombuffer(
        values.buffers()[1], dtype=np.int64 if width == 8 else np.int32, count=n + 1, offset=values.offset * width
    )
    lengths = s.lengths[:n]
    np.subtract(offsets[1:], offsets[:-1], out=lengths)
    longest = int(lengths.max())
    h[...] = start[:, None]
    if longest <= BLOCK:
        # The common case: every value fits one block, the last; the counter is the key block plus the value.
        counter = s.counter[:n]
        np.add(lengths, BLOCK, out=counter, casting="unsafe")
        compress(h, _message(values, 0, longest, s), counter, None, True, s)
    else:
        _digest_long(h, values, lengths, s)
    if longest == 0 or not lengths.all():
        h[:, lengths == 0] = empty[:, None]
    return h


def _digest_long(h: U32, values: pa.Array, lengths: npt.NDArray[np.int64], s: Scratch) -> None:
    """Values of several blocks: block k is compressed only for the lanes that have it."""
    blocks = np.maximum((lengths + BLOCK - 1) // BLOCK, 1)
    lanes = np.arange(len(values))
    part = values
    for k in range(int(blocks.max())):
        if k:
            lanes = lanes[blocks[lanes] > k]
            part = values.take(pa.array(lanes))
        longest = int(lengths[lanes].max()) - k * BLOCK
        m = _message(part, k * BLOCK, min(BLOCK, max(longest, 0)), s)
        final = blocks[lanes] == k + 1
        counter = np.where(final, lengths[lanes] + BLOCK, (k + 2) * BLOCK).astype(np.uint64)
        low, high = (counter & 0xFFFFFFFF).astype(np.uint32), (counter >> 32).astype(np.uint32)
        if k == 0:
            compress(h, m, low, high, final, s)
        else:
            sub = h[:, lanes]
            compress(sub, m, low, high, final, s)
            h[:, lanes] = sub


def _message(values: pa.Array, begin: int, width: int, s: Scratch) -> list[U32 | None]:
    """The 16 message words of one block per lane: bytes begin..begin+width of each value, zero past its end.
    None stands for a word that is zero in every lane."""
    words = (width + 3) // 4
    if words == 0:
        return [None] * 16
    span = words * 4
    # Arrow's kernels make every value exactly `span` bytes: zeros inserted at its end (or at begin+span,
    # for longer values), then the block's bytes cut out. The result's data buffer is then a lanes x span matrix.
    padded = pc.binary_replace_slice(values, begin + span, begin + span, b"\0" * span)
    block = pc.binary_slice(padded, begin, begin + span)
    large = pa.types.is_large_binary(block.type)
    first = np.frombuffer(
        block.buffers()[1], np.int64 if large else np.int32, count=1, offset=block.offset * (8 if large else 4)
    )
    n = len(block)
    raw = np.frombuffer(block.buffers()[2], dtype="<u4", count=n * words, offset=int(first[0]))
    packed = s.words[:words, :n]
    np.copyto(packed, raw.reshape(n, words).T)
    return [packed[i] for i in range(words)] + [None] * (16 - words)


def hexdigest_many(start: U32, empty: U32, values: pa.Array, out: npt.NDArray[np.uint8], s: Scratch) -> None:
    """The lowercase hex digests of the values of a binary array without nulls into `out` (n x 64 bytes),
    `s.size` values at a time."""
    n = len(values)
    for lo in range(0, n, s.size):
        hi = min(lo + s.size, n)
        words = digest_many(start, empty, values.slice(lo, hi - lo), s)
        digest = s.digest[: hi - lo]
        np.copyto(digest, words.T)
        _hex_digits(digest.view(np.uint8), out[lo:hi].view("<u2"), s.hex_v[: hi - lo], s.hex_t[: hi - lo])


U16 = npt.NDArray[np.uint16]


def _hex_digits(digest: npt.NDArray[np.uint8], out: U16, v: U16, t: U16) -> None:
    """Lowercase hex of each byte of `digest` into `out`, one little-endian uint16 (two characters) per byte;
    v and t are scratch arrays of out's shape.

    Arithmetic on all bytes at once: the high nibble goes to the low byte (the first character); a nibble
    n becomes '0' + n, plus 39 more ('a' - '0' - 10) when n + 6 carries into bit 4, i.e. when n >= 10.
    """
    np.copyto(v, digest)
    np.right_shift(v, 4, out=t)
    v &= 0x0F
    v <<= 8
    v |= t
    np.add(v, 0x0606, out=t)
    t >>= 4
    t &= 0x0101
    t *= 39
    v += 0x3030
    np.add(v, t, out=out)
