"""The data catalog connector interface."""

from __future__ import annotations

from abc import ABC, abstractmethod

from m4d.connectors.catalog.model import AssetInfo


class Catalog(ABC):
    """Answers what an asset is. Errors: NotFoundError (unknown asset), TemporaryError (catalog down or
    slow: retry later), PermanentError/InvalidError (the catalog's answer is unusable)."""

    #: Says which catalog this is in messages, e.g. `catalog file:samples/catalog`.
    name: str
    #: Whether `revision()` changes with everything answers depend on (else it is also asked again
    #: at an interval).
    revision_is_complete: bool = False

    @abstractmethod
    def get_asset(self, asset_id: str) -> AssetInfo: ...

    def revision(self) -> str | None:
        """What the catalog's content is now, as a value that changes whenever it changes (cheap to ask:
        the hub asks every second or so). None: the catalog cannot tell, so it is asked again at an
        interval instead. Errors: as `get_asset`'s (the hub then keeps its last answer)."""
        return None

    def close(self) -> None:
        """Release connections; file-based catalogs have none."""
