"""Keyed hashing of Arrow arrays (keyed BLAKE2s by default, vectorised in numpy; HMAC-SHA256 on request)."""

from m4d.modules.keyed.hashers import (
    ALGORITHMS,
    BLAKE2S_KEYED,
    DIGEST_HEX_LEN,
    HMAC_SHA256,
    HmacSha256,
    KeyedBlake2s,
    KeyedHasher,
    hasher,
)

__all__ = [
    "ALGORITHMS",
    "BLAKE2S_KEYED",
    "DIGEST_HEX_LEN",
    "HMAC_SHA256",
    "HmacSha256",
    "KeyedBlake2s",
    "KeyedHasher",
    "hasher",
]
