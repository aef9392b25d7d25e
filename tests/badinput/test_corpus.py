"""The corpus is as large and as classified as docs/bad-input.md says."""

from __future__ import annotations

import re
from pathlib import Path

from tests.badinput import (
    test_apply,
    test_commands,
    test_connectors,
    test_flight,
    test_gitops_sync,
    test_planning,
    test_store,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "bad-input.md"
SURFACES = {
    "m4d apply": test_apply.CLASSES,
    "other commands": test_commands.CLASSES,
    "store": test_store.CLASSES,
    "connectors": test_connectors.CLASSES,
    "planning": test_planning.CLASSES,
    "Flight RPCs": test_flight.CLASSES,
    "GitOps sync": test_gitops_sync.CLASSES,
}
ROW = re.compile(r"^\| (?P<surface>[^|*]+?) \| (?P<cls>[^|]+?) \| (?P<count>\d+) \|$", re.MULTILINE)


def counted() -> dict[tuple[str, str], int]:
    return {(surface, cls): len(cases) for surface, classes in SURFACES.items() for cls, cases in classes.items()}


def test_the_corpus_holds_at_least_300_cases() -> None:
    assert sum(counted().values()) >= 300


def test_case_ids_are_unique_within_each_class() -> None:
    for classes in SURFACES.values():
        for cases in classes.values():
            ids = [c.id for c in cases]
            assert len(ids) == len(set(ids))


def test_the_documented_counts_are_the_corpus() -> None:
    text = DOC.read_text(encoding="utf-8")
    documented = {(m["surface"], m["cls"]): int(m["count"]) for m in ROW.finditer(text)}
    assert documented == counted()
    total = re.search(r"\| \*\*total\*\* \| \| \*\*(\d+)\*\* \|", text)
    assert total is not None and int(total.group(1)) == sum(counted().values())
