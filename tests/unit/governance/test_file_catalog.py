"""The built-in YAML catalog: lookups, reloads, and errors that name the file and field."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from m4d.connectors.catalog import FileCatalog
from m4d.connectors.fybrik import asset_from_fybrik, asset_to_fybrik
from m4d.errors import InvalidError, NotFoundError, PermanentError

ASSETS = """
assets:
  - id: finance/transactions
    name: Transactions
    geography: eu-de
    tags: [finance]
    connection: {kind: s3, properties: {endpoint: "http://127.0.0.1:9000", bucket: fin, objectKey: tx.parquet}}
    format: parquet
    credentialRef: secret/data/m4d/finance
    columns:
      - {name: id}
      - {name: ssn, tags: [PII.Sensitive]}
  - id: broken/asset
    connection: {kind: s3, properties: {bucket: b}}
    format: xls
"""


@pytest.fixture
def catalog(tmp_path: Path) -> FileCatalog:
    (tmp_path / "assets.yaml").write_text(ASSETS)
    return FileCatalog(tmp_path)


def test_lookup(catalog: FileCatalog) -> None:
    asset = catalog.get_asset("finance/transactions")
    assert asset.geography == "eu-de"
    assert asset.store.connection.properties["objectKey"] == "tx.parquet"
    assert asset.store.credential_ref == "secret/data/m4d/finance"
    assert [c.tags for c in asset.columns] == [[], ["PII.Sensitive"]]


def test_unknown_asset(catalog: FileCatalog) -> None:
    with pytest.raises(NotFoundError, match="has no asset 'nope'"):
        catalog.get_asset("nope")


def test_invalid_entry_names_file_field_and_rule(catalog: FileCatalog, tmp_path: Path) -> None:
    with pytest.raises(InvalidError) as info:
        catalog.get_asset("broken/asset")
    text = str(info.value)
    assert f"asset 'broken/asset' in {tmp_path / 'assets.yaml'} is invalid" in text
    assert "assets[1].connection.properties.endpoint: required (taxonomy rule #/definitions/s3/required)" in text
    assert "assets[1].format: must be one of parquet, csv, arrow, json (got 'xls')" in text
    # The good asset in the same file stays usable.
    assert catalog.get_asset("finance/transactions").id == "finance/transactions"


def test_edits_are_picked_up(catalog: FileCatalog, tmp_path: Path) -> None:
    path = tmp_path / "assets.yaml"
    path.write_text(ASSETS.replace("eu-de", "eu-fr"))
    os.utime(path, ns=(1, 1))  # a different stamp even within the filesystem's time resolution
    assert catalog.get_asset("finance/transactions").geography == "eu-fr"


def test_duplicates_and_broken_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(ASSETS)
    (tmp_path / "b.yaml").write_text(ASSETS.split("  - id: broken", maxsplit=1)[0])
    (tmp_path / "c.yaml").write_text("assets: {not: a list}")
    catalog = FileCatalog(tmp_path)
    with pytest.raises(InvalidError, match=r"also defined in .*a.yaml"):
        catalog.get_asset("finance/transactions")
    with pytest.raises(PermanentError, match=r"c.yaml must hold a list under `assets:`"):
        catalog.get_asset("other")


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="does not exist"):
        FileCatalog(tmp_path / "nowhere").get_asset("x")


def test_fybrik_round_trip(catalog: FileCatalog) -> None:
    asset = catalog.get_asset("finance/transactions")
    wire = asset_to_fybrik(asset)
    assert wire["details"]["connection"] == {
        "name": "s3",
        "s3": {"endpoint": "http://127.0.0.1:9000", "bucket": "fin", "object_key": "tx.parquet"},
    }
    assert wire["resourceMetadata"]["columns"][1] == {"name": "ssn", "tags": {"PII.Sensitive": True}}
    assert asset_from_fybrik(asset.id, wire) == asset.wire()
