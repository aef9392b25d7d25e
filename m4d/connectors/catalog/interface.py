"""The data catalog connector interface."""

from __future__ import annotations

from abc import ABC, abstractmethod

from m4d.connectors.catalog.model import AssetInfo


class Catalog(ABC):
    """Answers what an asset is. Errors: NotFoundError (unknown asset), TemporaryError (catalog down or
    slow: retry later), PermanentError/InvalidError (the catalog's answer is unusable)."""

    #: Says which catalog this is in messages, e.g. `catalog file:samples/catalog`.
    name: str

    @abstractmethod
    def get_asset(self, asset_id: str) -> AssetInfo: ...

    def close(self) -> None:
        """Release connections; file-based catalogs have none."""
