"""Translation between our typed values and the Fybrik connector wire forms (shared by the Fybrik catalog
client, the Fybrik policy-manager client and the OPA connector, whose input and output use the same forms).

- Tags: Fybrik sends objects (`{"PII.Sensitive": true}`); we keep the list of tags that are set.
- Connections: Fybrik's `{"name": "s3", "s3": {"object_key": ...}}` is our `{kind: s3, properties:
  {objectKey: ...}}`: the kind's properties move under our `properties`, snake_case names become camelCase.
- Actions: Fybrik's `{"name": ..., "columns": [...], <option>: ...}` is our Action with the extra
  properties in `options` (values as strings).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from m4d.api.common import Action, Connection
from m4d.taxonomy.layering import camel, snake

if TYPE_CHECKING:
    from m4d.connectors.catalog.model import AssetInfo


def tags_to_fybrik(tags: list[str]) -> dict[str, Any]:
    return dict.fromkeys(tags, True)


def tags_from_fybrik(tags: Any) -> list[str]:
    if not isinstance(tags, dict):
        return []
    return [str(name) for name, value in tags.items() if value is not False and value is not None]


def connection_to_fybrik(connection: Connection) -> dict[str, Any]:
    properties = {snake(k): v for k, v in connection.properties.items()}
    return {"name": connection.kind, connection.kind: properties}


def connection_from_fybrik(raw: dict[str, Any]) -> dict[str, Any]:
    """Our wire form (validated by the caller): kind plus its properties, camelCased."""
    kind = raw.get("name")
    nested = raw.get(kind) if isinstance(kind, str) else None
    properties = nested if isinstance(nested, dict) else {k: v for k, v in raw.items() if k != "name"}
    return {"kind": kind, "properties": {camel(k): v for k, v in properties.items()}}


def metadata_to_fybrik(asset: AssetInfo, geography: str | None = None) -> dict[str, Any]:
    """Fybrik's ResourceMetadata; `geography` overrides the asset's (used for the copy of an asset)."""
    out: dict[str, Any] = {}
    if asset.name is not None:
        out["name"] = asset.name
    if asset.owner is not None:
        out["owner"] = asset.owner
    geo = geography or asset.geography
    if geo is not None:
        out["geography"] = geo
    out["tags"] = tags_to_fybrik(asset.tags)
    out["columns"] = [{"name": c.name, "tags": tags_to_fybrik(c.tags)} for c in asset.columns]
    return out


def asset_to_fybrik(asset: AssetInfo) -> dict[str, Any]:
    """A GetAssetResponse for `asset` (what a Fybrik catalog connector answers)."""
    details: dict[str, Any] = {"connection": connection_to_fybrik(asset.connection)}
    if asset.format is not None:
        details["dataFormat"] = asset.format
    return {
        "resourceMetadata": metadata_to_fybrik(asset),
        "details": details,
        "credentials": asset.credential_ref or "",
    }


def asset_from_fybrik(asset_id: str, response: dict[str, Any]) -> dict[str, Any]:
    """Our AssetInfo wire form from a (schema-checked) GetAssetResponse."""
    meta = response.get("resourceMetadata") or {}
    details = response.get("details") or {}
    raw: dict[str, Any] = {
        "id": asset_id,
        "name": meta.get("name"),
        "owner": meta.get("owner"),
        "geography": meta.get("geography"),
        "tags": tags_from_fybrik(meta.get("tags")),
        "connection": connection_from_fybrik(details.get("connection") or {}),
        "format": details.get("dataFormat"),
        "credentialRef": response.get("credentials") or None,
        "columns": [
            {"name": c.get("name"), "tags": tags_from_fybrik(c.get("tags"))}
            for c in meta.get("columns") or []
            if isinstance(c, dict)
        ],
    }
    return {k: v for k, v in raw.items() if v is not None}


def action_to_fybrik(action: Action) -> dict[str, Any]:
    out: dict[str, Any] = {"name": action.name}
    if action.columns:
        out["columns"] = list(action.columns)
    out.update(action.options)
    return out


def action_from_fybrik(raw: dict[str, Any]) -> dict[str, Any]:
    """Our Action wire form (validated by the caller against the taxonomy)."""
    options = {camel(k): v if isinstance(v, str) else str(v) for k, v in raw.items() if k not in ("name", "columns")}
    out: dict[str, Any] = {"name": raw.get("name")}
    if "columns" in raw:
        out["columns"] = raw["columns"]
    if options:
        out["options"] = options
    return out
