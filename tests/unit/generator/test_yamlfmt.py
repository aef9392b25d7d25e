from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from m4d.generator.yamlfmt import dump

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(["true", "no", "~", "1.5", "0x1f", "2024-01-01", "1:20", "- a", "a: b", "#x", "{config}",
                     "line\nnext\n", "tail ", " lead", "<<", "=", "https://h:1/p", "é", "\u2028", "😀"]),
)  # fmt: skip
_keys = st.one_of(st.text(max_size=12), st.sampled_from(["x\n", "a: b", "true", "", "- k", "1", "k:", " k"]))
_data = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=120, deadline=None)
@given(st.dictionaries(_keys, _data, max_size=5))
def test_every_document_loads_back_to_the_same_data(doc: dict[str, Any]) -> None:
    assert yaml.safe_load(dump(doc)) == doc


def test_layout_is_what_reviewers_expect() -> None:
    text = dump({"spec": {"b": [{"x": 1, "a": "plain"}, "two"], "a": "https://h/r.git", "s": "x: y"}, "lua": "a\nb\n"})
    assert text.decode() == (
        'lua: |\n  a\n  b\nspec:\n  a: https://h/r.git\n  b:\n  - a: plain\n    x: 1\n  - two\n  s: "x: y"\n'
    )


def test_strings_that_read_as_other_types_are_quoted() -> None:
    assert dump({"a": "true", "b": "1", "c": "", "d": "null"}) == b'a: "true"\nb: "1"\nc: ""\nd: "null"\n'
    assert dump({"A\n": None}) == b'"A\\n": null\n'  # a trailing newline is not plain
