"""Client of the Fybrik data-catalog connector REST API (`POST /getAssetInfo`), so that any existing
Fybrik catalog connector plugs in. Answers are checked against Fybrik's schema, translated, then checked
against our taxonomy; a violation is a permanent error naming the field and the rule."""

from __future__ import annotations

from m4d.connectors.catalog.interface import Catalog
from m4d.connectors.catalog.model import AssetInfo, parse_asset
from m4d.connectors.fybrik import asset_from_fybrik
from m4d.connectors.http import HttpConnector, RetryPolicy
from m4d.errors import FieldError, InvalidError, NotFoundError
from m4d.taxonomy import Taxonomy, default_taxonomy
from m4d.taxonomy import fybrik as fybrik_schema

CREDENTIAL_HEADER = "X-Request-Datacatalog-Cred"


class FybrikCatalog(Catalog):
    def __init__(
        self,
        url: str,
        *,
        credentials: str = "",
        timeout: float = 5.0,
        retry: RetryPolicy | None = None,
        taxonomy: Taxonomy | None = None,
    ) -> None:
        self.name = f"catalog fybrik:{url}"
        self.taxonomy = taxonomy or default_taxonomy()
        self.credentials = credentials
        self.http = HttpConnector(self.name, url, timeout=timeout, retry=retry or RetryPolicy())

    def get_asset(self, asset_id: str) -> AssetInfo:
        request = {"assetID": asset_id, "operationType": "read"}
        try:
            answer = self.http.post_json("/getAssetInfo", request, headers={CREDENTIAL_HEADER: self.credentials})
        except NotFoundError as exc:
            raise NotFoundError(f"{self.name} has no asset {asset_id!r} ({exc})") from None
        what = f"answer of {self.name} for asset {asset_id!r}"
        if not isinstance(answer, dict):
            raise InvalidError(what, [FieldError("", f"must be a JSON object (got {type(answer).__name__})")])
        errors = fybrik_schema.check("datacatalog.json#/definitions/GetAssetResponse", answer)
        if errors:
            raise InvalidError(what, errors)
        return parse_asset(self.taxonomy, asset_from_fybrik(asset_id, answer), what)

    def close(self) -> None:
        self.http.close()
