"""Keyed hashing of Arrow arrays (HMAC-SHA256), vectorised over a batch's buffers."""

from m4d.modules.keyed.hmac import DIGEST_HEX_LEN, HmacSha256

__all__ = ["DIGEST_HEX_LEN", "HmacSha256"]
