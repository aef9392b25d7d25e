"""Every invalid document is rejected with a message naming its field; every valid one is accepted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from m4d.api.parse import Document, parse_document
from m4d.api.registry import kind_info
from m4d.cli.main import cli
from m4d.cluster.local import LocalCluster
from m4d.errors import InvalidError

CORPUS = Path(__file__).parents[2] / "corpus"
INVALID: list[dict[str, Any]] = yaml.safe_load((CORPUS / "invalid.yaml").read_text())
VALID: list[dict[str, Any]] = yaml.safe_load((CORPUS / "valid.yaml").read_text())


def test_corpus_is_large_enough() -> None:
    assert len(INVALID) >= 20


@pytest.mark.parametrize("case", INVALID, ids=[c["name"] for c in INVALID])
def test_invalid_document_names_the_field(case: dict[str, Any]) -> None:
    with pytest.raises(InvalidError) as info:
        parse_document(Document("bad.yaml", 1, case["doc"]), "default")
    assert case["expect"] in str(info.value)
    assert "bad.yaml, document 1" in str(info.value)


@pytest.mark.parametrize("doc", VALID, ids=[f"{d['kind']}-{d['metadata']['name']}" for d in VALID])
def test_valid_document_is_stored(doc: dict[str, Any], tmp_path: Path) -> None:
    obj = parse_document(Document("good.yaml", 1, doc), "default")
    store = LocalCluster(tmp_path / "hub.db")
    stored = store.create(obj)
    assert stored.wire()["spec"] == obj.wire()["spec"]
    store.close()


def test_cli_apply_rejects_the_whole_file_and_stores_nothing(tmp_path: Path) -> None:
    docs = [VALID[1]["doc"] if "doc" in VALID[1] else VALID[1], INVALID[0]["doc"], INVALID[11]["doc"]]
    path = tmp_path / "mixed.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    hub = tmp_path / "hub"
    result = CliRunner().invoke(cli, ["--hub", str(hub), "apply", "-f", str(path)])
    assert result.exit_code != 0
    message = str(result.exception) if result.exception else result.output
    assert f"{path}, document 2 (M4DApplication a): spec.data[0].flow: must be one of read, write, copy" in message
    assert "document 3" in message and "metadata.name" in message
    store = LocalCluster(hub / "hub.db")
    assert store.list(kind_info("app").model).items == []
    store.close()
