"""The built-in catalog: assets described in YAML files in a directory (the embedded default).

    # samples/catalog/finance.yaml
    assets:
      - id: finance/transactions
        geography: eu-de
        tags: [finance]
        connection: {kind: file, properties: {path: /data/transactions.parquet}}
        format: parquet
        credentialRef: secret/data/m4d/finance        # a Vault path, never the secret
        columns:
          - {name: ssn, tags: [PII.Sensitive]}

Files are read again whenever one changes, so a data steward edits them in place. One broken entry makes
only that asset unusable (its error names the file and field); a broken file is reported for every asset
not found elsewhere.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from m4d.api.strict import load_yaml_file
from m4d.connectors.catalog.interface import Catalog
from m4d.connectors.catalog.model import AssetInfo, parse_asset
from m4d.errors import FieldError, InvalidError, NotFoundError, PermanentError
from m4d.taxonomy import Taxonomy, default_taxonomy

_PATTERNS = ("*.yaml", "*.yml")


def _stamp_revision(stamp: tuple[tuple[str, int, int], ...]) -> str:
    return hashlib.sha256(repr(stamp).encode()).hexdigest()[:16]


@dataclass
class _Index:
    stamp: tuple[tuple[str, int, int], ...] = ()
    assets: dict[str, AssetInfo | InvalidError] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)


class FileCatalog(Catalog):
    def __init__(self, directory: str | Path, taxonomy: Taxonomy | None = None) -> None:
        self.directory = Path(directory)
        self.taxonomy = taxonomy or default_taxonomy()
        self.name = f"catalog file:{self.directory}"
        self.revision_is_complete = True
        self._index = _Index()
        self._lock = threading.Lock()

    def _files(self) -> list[Path]:
        if not self.directory.is_dir():
            raise PermanentError(f"{self.name}: directory {self.directory} does not exist", reason="CatalogMissing")
        return sorted({p for pattern in _PATTERNS for p in self.directory.glob(pattern)})

    def _current(self) -> _Index:
        files = self._files()
        stamp = tuple((str(p), (s := p.stat()).st_mtime_ns, s.st_size) for p in files)
        with self._lock:
            if stamp != self._index.stamp:
                self._index = self._build(files, stamp)
            return self._index

    def _build(self, files: list[Path], stamp: tuple[tuple[str, int, int], ...]) -> _Index:
        index = _Index(stamp=stamp)
        where: dict[str, str] = {}
        for path in files:
            try:
                doc = load_yaml_file(path) or {}
            except InvalidError as exc:  # not UTF-8, not YAML, too large: this file's assets only
                index.broken[str(path)] = "; ".join(str(e) for e in exc.errors)
                continue
            entries = doc.get("assets") if isinstance(doc, dict) else None
            if not isinstance(entries, list):
                index.broken[str(path)] = "must hold a list under `assets:`"
                continue
            for i, raw in enumerate(entries):
                self._add(index, where, path, i, raw)
        return index

    def _add(self, index: _Index, where: dict[str, str], path: Path, i: int, raw: Any) -> None:
        asset_id = raw.get("id") if isinstance(raw, dict) else None
        if not isinstance(asset_id, str) or not asset_id:
            index.broken[f"{path} assets[{i}]"] = "has no `id`"
            return
        what = f"asset {asset_id!r} in {path}"
        if asset_id in where:
            first = where[asset_id]
            index.assets[asset_id] = InvalidError(what, [FieldError(f"assets[{i}].id", f"also defined in {first}")])
            return
        where[asset_id] = str(path)
        try:
            index.assets[asset_id] = parse_asset(self.taxonomy, raw, what, f"assets[{i}]")
        except InvalidError as exc:
            index.assets[asset_id] = exc

    def get_asset(self, asset_id: str) -> AssetInfo:
        index = self._current()
        found = index.assets.get(asset_id)
        if isinstance(found, InvalidError):
            raise found
        if found is not None:
            return found
        if index.broken:
            problems = "; ".join(f"{k} {v}" for k, v in sorted(index.broken.items()))
            raise PermanentError(f"{self.name} has no asset {asset_id!r}, and some files are unusable: {problems}")
        raise NotFoundError(f"{self.name} has no asset {asset_id!r}")

    def revision(self) -> str | None:
        """The files' names, sizes and modification times: a data steward's edit changes it."""
        return _stamp_revision(self._current().stamp)

    def asset_ids(self) -> list[str]:
        return sorted(self._current().assets)
