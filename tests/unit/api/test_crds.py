"""The committed CRDs are what the models generate, and they are structural."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from m4d.api.crd import all_crds, crd_files

DEPLOY = Path(__file__).parents[3] / "deploy"
COPIES = ("crds", "charts/m4d-hub/files/crds", "charts/m4d-agent/files/crds")


@pytest.mark.parametrize("folder", COPIES)
def test_committed_crds_are_up_to_date(folder: str) -> None:
    generated = crd_files()
    committed = {p.name: p.read_text() for p in (DEPLOY / folder).glob("*.yaml")}
    stale = sorted(n for n in generated if committed.get(n) != generated[n])
    extra = sorted(set(committed) - set(generated))
    assert not stale and not extra, (
        f"deploy/{folder} is out of date with the models (stale: {stale}, extra: {extra}); run `make crds`"
    )


def _walk(node: dict[str, Any], path: str, problems: list[str]) -> None:
    if "$ref" in node or "anyOf" in node or "allOf" in node or "oneOf" in node:
        problems.append(f"{path}: references and unions are not structural")
    if "type" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        problems.append(f"{path}: no type")
    if node.get("additionalProperties") is False:
        problems.append(f"{path}: additionalProperties false is not allowed")
    if "properties" in node and "additionalProperties" in node:
        problems.append(f"{path}: properties and additionalProperties together")
    for name, sub in node.get("properties", {}).items():
        _walk(sub, f"{path}.{name}", problems)
    if isinstance(node.get("additionalProperties"), dict):
        _walk(node["additionalProperties"], f"{path}[*]", problems)
    if "items" in node:
        _walk(node["items"], f"{path}[]", problems)


def test_schemas_are_structural_with_status_and_columns() -> None:
    for crd in all_crds():
        version = crd["spec"]["versions"][0]
        problems: list[str] = []
        _walk(version["schema"]["openAPIV3Schema"], crd["spec"]["names"]["kind"], problems)
        assert problems == []
        assert version["subresources"] == {"status": {}}
        assert version["additionalPrinterColumns"]
        assert crd["spec"]["names"]["shortNames"] and crd["spec"]["names"]["categories"] == ["m4d"]
