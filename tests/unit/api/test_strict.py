"""m4d.api.strict: what strict reading accepts (the corpus in tests/badinput/ holds what it refuses)."""

from __future__ import annotations

import pytest

from m4d.api.strict import Limits, decode, json_values, load_json, load_yaml, yaml_documents
from m4d.errors import InvalidError


def test_a_byte_order_mark_is_dropped() -> None:
    assert decode(b"\xef\xbb\xbfa: 1\n", "f") == "a: 1\n"


def test_merge_keys_may_be_overridden_by_the_mapping_itself() -> None:
    text = "base: &b {x: 1, y: 1}\nthis: {<<: *b, y: 2}\n"
    assert load_yaml(text, "f") == {"base": {"x": 1, "y": 1}, "this": {"x": 1, "y": 2}}


@pytest.mark.parametrize(
    "text",
    [
        "a: {k: 1, k: 2}\n",  # flow mapping
        "a:\n  b:\n    k: 1\n    k: 2\n",  # nested block mapping
        "- {k: 1}\n- [{k: 1, k: 2}]\n",  # mapping inside sequences
        "a: !!map {k: 1, k: 2}\n",  # explicitly tagged
        "a: &x {k: 1, k: 2}\nb: *x\n",  # anchored, then aliased
        "a: {<<: {m: 1}, k: 1, k: 2}\n",  # beside a merge key
    ],
)
def test_every_mapping_is_built_by_the_strict_constructor(text: str) -> None:
    with pytest.raises(InvalidError, match="duplicate key 'k'"):
        load_yaml(text, "f")


def test_dates_stay_text_and_scalar_keys_become_text() -> None:
    assert load_yaml("d: 2024-01-01\n1: a\ntrue: b\n", "f") == {"d": "2024-01-01", "1": "a", "true": "b"}


def test_documents_carry_their_first_line_and_empty_ones_are_kept_as_none() -> None:
    docs = list(yaml_documents("a: 1\n---\n---\nb: 2\n", "f"))
    assert [(d.body, d.line) for d in docs] == [({"a": 1}, 1), (None, 3), ({"b": 2}, 4)]


def test_aliases_within_the_bound_expand() -> None:
    text = "a: &a [1, 2, 3]\nb: [*a, *a]\n"
    assert load_yaml(text, "f") == {"a": [1, 2, 3], "b": [[1, 2, 3], [1, 2, 3]]}
    with pytest.raises(InvalidError, match="more than 5 values"):
        load_yaml(text, "f", Limits(nodes=5))


def test_a_stream_of_json_values() -> None:
    values = list(json_values('{"a": 1}\n{"b": [2]}\n', "f.json"))
    assert [(v.body, v.line) for v in values] == [({"a": 1}, 1), ({"b": [2]}, 2)]
    assert load_json(b'{"a": "caf\xc3\xa9"}', "answer") == {"a": "café"}


def test_limits_are_parameters() -> None:
    # Every value is a level: the mapping, three lists, and the number in the innermost one.
    assert load_yaml("a: [[[1]]]\n", "f", Limits(depth=5)) == {"a": [[[1]]]}
    with pytest.raises(InvalidError, match="nested deeper than 4 levels"):
        load_yaml("a: [[[1]]]\n", "f", Limits(depth=4))
    with pytest.raises(InvalidError, match="larger than 10 bytes"):
        load_yaml("a: 123456789\n", "f", Limits(document_bytes=10))
