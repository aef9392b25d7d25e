"""m4d.cluster.batch: how a write that fails after the dry run is reported.

The store fills up for real: SQLite's `max_page_count` caps the file so that each document alone fits
(every dry run passes) but not both, and the second real write fails with SQLITE_FULL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from m4d.api import MemberCluster
from m4d.api.meta import Resource
from m4d.api.parse import Document, load_documents, parse_document
from m4d.cluster.batch import apply_all
from m4d.cluster.local import LocalCluster
from m4d.errors import InvalidError, TemporaryError
from tests.badinput import documents as d

BIG = "  annotations: {x: '" + "y" * 200_000 + "'}\n"


def _pairs(*texts: str) -> list[tuple[Document, Resource]]:
    docs = load_documents(d.stream(*texts).decode(), "in.yaml")
    return [(doc, parse_document(doc, applying=True)) for doc in docs]


def _pages(store: LocalCluster) -> int:
    return int(store._conn().execute("PRAGMA page_count").fetchone()[0])


def _pages_for_one(tmp_path: Path) -> int:
    scratch = LocalCluster(tmp_path / "scratch.db", name="scratch")
    try:
        before = _pages(scratch)
        apply_all(scratch, _pairs(d.member("probe", BIG)), "m4d")
        return _pages(scratch) - before
    finally:
        scratch.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path / "hub.db", name="hub")
    yield cluster
    cluster.close()


def test_a_store_that_fills_up_mid_apply_is_temporary_trouble_naming_what_was_stored(
    store: LocalCluster, tmp_path: Path
) -> None:
    one = _pages_for_one(tmp_path)
    store._conn().execute(f"PRAGMA max_page_count={_pages(store) + one + one // 2}").fetchone()
    with pytest.raises(TemporaryError) as caught:
        apply_all(store, _pairs(d.member("a", BIG), d.member("b", BIG)), "m4d")
    assert not isinstance(caught.value, InvalidError)  # the input is fine: running it again later may work
    assert caught.value.reason == "StoreFull"
    message = caught.value.message
    assert message.startswith("in.yaml, document 2 (MemberCluster b) was refused after every document passed")
    assert "stored before it: MemberCluster a" in message
    assert "database or disk is full (free some space)" in message
    assert [m.name for m in store.list(MemberCluster).items] == ["a"]


def test_a_store_refusal_of_the_input_itself_stays_invalid(store: LocalCluster) -> None:
    with pytest.raises(InvalidError, match=r"1 of 2 document\(s\) refused by cluster hub, nothing stored"):
        apply_all(store, _pairs(d.member("a"), d.member("b", "  resourceVersion: '3'\n")), "m4d")
    assert store.list(MemberCluster).items == []
