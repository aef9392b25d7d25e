"""Data catalog connectors: the built-in YAML catalog and the Fybrik data-catalog REST client."""

from m4d.connectors.catalog.files import FileCatalog
from m4d.connectors.catalog.fybrik import FybrikCatalog
from m4d.connectors.catalog.interface import Catalog
from m4d.connectors.catalog.model import AssetInfo, Column

__all__ = ["AssetInfo", "Catalog", "Column", "FileCatalog", "FybrikCatalog"]
