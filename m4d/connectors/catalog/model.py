"""What a catalog says about an asset, parsed and checked against the taxonomy at the edge."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError

from m4d.api.common import Connection, DataStore
from m4d.api.meta import Model
from m4d.errors import FieldError, InvalidError
from m4d.taxonomy import Taxonomy


class Column(Model):
    name: str = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)


class AssetInfo(Model):
    """An asset as the platform needs it: where it is, in which format, where it may be, what it holds.

    `credential_ref` is a reference (a Vault path), never the secret itself.
    """

    id: str = Field(min_length=1)
    name: str | None = None
    owner: str | None = None
    geography: str | None = None
    tags: list[str] = Field(default_factory=list)
    connection: Connection
    format: str | None = None
    credential_ref: str | None = None
    columns: list[Column] = Field(default_factory=list)

    @property
    def store(self) -> DataStore:
        return DataStore(connection=self.connection, format=self.format, credential_ref=self.credential_ref)

    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def pydantic_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    out = []
    for err in exc.errors():
        path = prefix
        for part in err["loc"]:
            path = f"{path}[{part}]" if isinstance(part, int) else (f"{path}.{part}" if path else str(part))
        out.append(FieldError(path, err["msg"]))
    return out


def parse_asset(taxonomy: Taxonomy, raw: Any, what: str, prefix: str = "") -> AssetInfo:
    """A validated AssetInfo from its wire form, or InvalidError naming every bad field and rule."""
    try:
        asset = AssetInfo.model_validate(raw)
    except ValidationError as exc:
        raise InvalidError(what, pydantic_errors(exc, prefix)) from None
    at = f"{prefix}." if prefix else ""
    errors = taxonomy.check_connection(asset.connection.wire(), f"{at}connection")
    if asset.format is not None:
        errors += taxonomy.check_format(asset.format, f"{at}format")
    for i, tag in enumerate(asset.tags):
        errors += taxonomy.check_tag(tag, f"{at}tags[{i}]")
    seen: set[str] = set()
    for i, column in enumerate(asset.columns):
        if column.name in seen:
            errors.append(FieldError(f"{at}columns[{i}].name", f"column {column.name!r} is listed twice"))
        seen.add(column.name)
        for j, tag in enumerate(column.tags):
            errors += taxonomy.check_tag(tag, f"{at}columns[{i}].tags[{j}]")
    if errors:
        raise InvalidError(what, errors)
    return asset
