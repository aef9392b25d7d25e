"""Metadata rules the API server applies to every object, as the embedded store applies them."""

from __future__ import annotations

from typing import Any

import pytest

from m4d.api.meta_validation import check_metadata, qualified_name_problem
from m4d.errors import FieldError


def problems(meta: Any, namespaced: bool = True) -> list[FieldError]:
    errors: list[FieldError] = []
    check_metadata(meta, namespaced, errors)
    return errors


@pytest.mark.parametrize("key", ["tier", "app.kubernetes.io/name", "example.com/a_b.c-d", "A1", "x" * 63])
def test_qualified_names(key: str) -> None:
    assert qualified_name_problem(key) is None


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "name part must be non-empty"),
        ("/a", "prefix part must be non-empty"),
        ("Example.com/a", "prefix part must be a lowercase RFC 1123 subdomain"),
        ("example.com/", "name part must be non-empty"),
        ("x" * 64, "name part must be no more than 63 characters"),
        ("-a", "name part must consist of"),
        ("a b", "name part must consist of"),
    ],
)
def test_not_qualified_names(key: str, problem: str) -> None:
    assert (qualified_name_problem(key) or "").startswith(problem)


def test_complete_metadata_passes() -> None:
    meta = {
        "name": "a.b",
        "namespace": "team-a",
        "uid": "u",
        "resourceVersion": "12",
        "generation": 3,
        "creationTimestamp": "2026-01-02T03:04:05Z",
        "labels": {"tier": "", "example.com/x": "A-1_b.c"},
        "annotations": {"Example.com/Note": "any text at all"},
        "finalizers": ["app.m4d.dev/cleanup", "plain"],
        "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "n", "uid": "1", "controller": True}],
        "managedFields": [],
    }
    assert problems(meta) == []


def test_generate_name_may_end_in_a_dash() -> None:
    assert problems({"generateName": "report-"}) == []
    assert [e.path for e in problems({"generateName": "Report-"})] == ["metadata.generateName"]


def test_wrong_types_and_shapes_name_the_field() -> None:
    paths = [
        e.path
        for e in problems(
            {
                "name": "n",
                "namespace": "Not_A_Label",
                "generation": "3",
                "deletionTimestamp": "yesterday",
                "finalizers": "x",
                "ownerReferences": [{"uid": "1", "controller": True}, {"controller": True, "apiVersion": "v1"}],
                "annotations": {"k": "v" * (256 * 1024)},
            }
        )
    ]
    assert paths == [
        "metadata.generation",
        "metadata.deletionTimestamp",
        "metadata.namespace",
        "metadata.annotations",
        "metadata.finalizers",
        "metadata.ownerReferences[0].apiVersion",
        "metadata.ownerReferences[0].kind",
        "metadata.ownerReferences[0].name",
        "metadata.ownerReferences[1].kind",
        "metadata.ownerReferences[1].name",
        "metadata.ownerReferences[1].uid",
        "metadata.ownerReferences",
    ]
    assert problems("x") == [FieldError("metadata", "required")]
