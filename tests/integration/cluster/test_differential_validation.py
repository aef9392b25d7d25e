"""The embedded store's schema checks and a real API server accept and reject the same documents.

Every document of the shared corpus (tests/corpus/) goes to `m4d.api.schema.validate_object`, the check the
embedded store runs on every write, and is created on the real hub (with our generated CRDs installed)
as it is, through the raw API with strict field validation, not through the pydantic models. Both must
give the same verdict, and a rejection must name the same field on both sides.

Documents whose apiVersion/kind the platform does not serve are left out: they never reach a store (the
command line refuses them first, see tests/unit/api/test_validation_corpus.py).
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from m4d.api.registry import KindInfo, UnknownKindError, kind_for_object
from m4d.api.schema import validate_object
from m4d.cluster.kube import KubeCluster
from m4d.errors import InvalidError
from tests.integration.cluster.fixtures import admin_cluster
from tests.testenv.servers import ApiServer

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[2] / "corpus"


@dataclass(frozen=True)
class Case:
    name: str
    doc: dict[str, Any]
    valid: bool
    field: str | None  # the field a rejection must name (from the corpus's expected message)


def _served(doc: dict[str, Any]) -> KindInfo | None:
    try:
        return kind_for_object(str(doc.get("apiVersion")), str(doc.get("kind")))
    except UnknownKindError:
        return None


def _cases() -> tuple[list[Case], list[str]]:
    valid = yaml.safe_load((CORPUS / "valid.yaml").read_text())
    invalid = yaml.safe_load((CORPUS / "invalid.yaml").read_text())
    cases = [Case(f"valid-{d['kind']}-{d['metadata']['name']}", d, True, None) for d in valid]
    cases += [Case(c["name"], c["doc"], False, c["expect"].split(":", 1)[0]) for c in invalid]
    served = [c for c in cases if _served(c.doc) is not None]
    skipped = [c.name for c in cases if _served(c.doc) is None]
    return served, skipped


CASES, SKIPPED = _cases()


def test_the_corpus_is_compared_nearly_whole() -> None:
    """Only the documents no store ever sees are left out; say which."""
    assert len(CASES) >= 40, f"only {len(CASES)} documents compared"
    assert sorted(SKIPPED) == ["unknown-kind", "wrong-api-version"]


def _normalise(path: str) -> str:
    """`spec.labels[tier]` (embedded) and `spec.labels.tier` (server) name the same map entry."""
    return re.sub(r"\[([^\]0-9][^\]]*)\]", r".\1", path)


def _without_indices(path: str) -> str:
    return re.sub(r"\[\d+\]", "", path) if path.startswith("metadata.") else path


def _embedded(case: Case) -> list[str] | None:
    """None if accepted, else the fields named."""
    info = _served(case.doc)
    assert info is not None
    try:
        validate_object(info, copy.deepcopy(case.doc))
    except InvalidError as error:
        return [_normalise(e.path) for e in error.errors]
    return None


@pytest.fixture(scope="module")
def hub(hub_api: ApiServer, hub_crds: list[str]) -> Iterator[KubeCluster]:
    cluster = admin_cluster(hub_api)
    yield cluster
    cluster.close()


def _real(hub: KubeCluster, case: Case, namespace: str) -> list[str] | None:
    """None if the hub creates the document as it is, else the fields its refusal names."""
    info = _served(case.doc)
    assert info is not None
    doc = copy.deepcopy(case.doc)
    if info.namespaced:
        doc["metadata"] = {**doc.get("metadata", {}), "namespace": namespace}
    try:
        created = hub.manifests.create(doc)
    except InvalidError as error:
        return [_normalise(e.path) for e in error.errors]
    name = created["metadata"]["name"]
    hub.manifests.delete(info.api_version, info.kind, name, created["metadata"].get("namespace"))
    return None


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_embedded_and_real_server_agree(hub: KubeCluster, case: Case) -> None:
    namespace = f"diff-{uuid.uuid4().hex[:8]}"
    hub.ensure_namespace(namespace)
    embedded, real = _embedded(case), _real(hub, case, namespace)
    assert (embedded is None) == (real is None), (
        f"{case.name}: embedded {'accepts' if embedded is None else f'rejects ({embedded})'}, "
        f"the real API server {'accepts' if real is None else f'rejects ({real})'}"
    )
    if case.valid:
        assert embedded is None
        return
    assert embedded is not None and real is not None
    field = _normalise(case.field or "")
    assert field in embedded, f"{case.name}: embedded names {embedded}, not {field}"
    # The same fields on both sides. The server leaves out list indices under metadata.ownerReferences, and
    # may add a field-less cause repeating a named one.
    assert {_without_indices(f) for f in embedded} == {_without_indices(f) for f in real if f}, (
        f"{case.name}: embedded names {embedded}, the real API server {real}"
    )
