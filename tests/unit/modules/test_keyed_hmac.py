import hashlib
import hmac
from collections.abc import Iterator

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from m4d.modules.keyed import HmacSha256, native

KEY = b"k" * 32


def expected(key: bytes, values: list[str | None]) -> list[str | None]:
    return [None if v is None else hmac.new(key, v.encode(), hashlib.sha256).hexdigest() for v in values]


@pytest.fixture(params=["native", "native-openssl", "hashlib"])
def hasher(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[HmacSha256]:
    if request.param == "hashlib":
        monkeypatch.setattr(native, "load", lambda: None)
    kernel = native.load()
    if request.param.startswith("native") and kernel is None:
        pytest.fail("the compiled HMAC kernel did not build; is a C compiler installed?")
    if request.param == "native-openssl" and kernel is not None:
        kernel.allow_sha_ni(False)  # OpenSSL's block function even where the CPU has SHA-NI
    yield HmacSha256(KEY)
    if kernel is not None:
        kernel.allow_sha_ni(True)


@given(values=st.lists(st.one_of(st.none(), st.text(max_size=200)), max_size=300))
@settings(max_examples=60, deadline=None)
def test_matches_the_standard_library(values: list[str | None]) -> None:
    for h in (HmacSha256(KEY),):
        assert h.hash_array(pa.array(values, pa.string())).to_pylist() == expected(KEY, values)


def test_both_paths_agree_on_every_message_length(hasher: HmacSha256) -> None:
    # Lengths around the one- and two-block boundaries of SHA-256 padding (55, 56, 64, 119, 120, 128).
    values = ["x" * n for n in range(0, 200)] + [None]
    assert hasher.hash_array(pa.array(values)).to_pylist() == expected(KEY, values)


def test_slices_large_types_and_binary(hasher: HmacSha256) -> None:
    values = [f"value-{i}" for i in range(50_000)]
    arr = pa.array(values)
    assert hasher.hash_array(arr.slice(1000, 30_000)).to_pylist() == expected(KEY, values[1000:31_000])
    assert hasher.hash_array(arr.cast(pa.large_string()).slice(3, 5)).to_pylist() == expected(KEY, values[3:8])
    assert hasher.hash_array(pa.array([b"\x00\xff"])).to_pylist() == [hmac.new(KEY, b"\x00\xff", "sha256").hexdigest()]


def test_numbers_hash_as_their_text(hasher: HmacSha256) -> None:
    assert hasher.hash_array(pa.array([42, None], pa.int64())).to_pylist() == expected(KEY, ["42", None])


def test_long_keys_are_hashed_first_as_rfc_2104_says() -> None:
    key = bytes(range(100))
    assert HmacSha256(key).hash_array(pa.array(["m"])).to_pylist() == expected(key, ["m"])


def test_deterministic_and_key_dependent() -> None:
    arr = pa.array(["alice", "bob", "alice"])
    out = HmacSha256(KEY).hash_array(arr).to_pylist()
    assert out[0] == out[2] != out[1]
    assert HmacSha256(b"other").hash_array(arr).to_pylist()[0] != out[0]


def test_the_key_is_not_in_the_repr() -> None:
    assert "k" * 8 not in repr(HmacSha256(KEY))
    with pytest.raises(ValueError, match="empty"):
        HmacSha256(b"")
