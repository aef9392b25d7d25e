"""A module's configuration (`--config FILE`, YAML): what to serve or copy, to whom, with which credentials.

The member agent derives it from a Blueprint module instance with `from_blueprint`. It holds no secret:
client tokens are stored as SHA-256 digests, stores are reached through credential references.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from m4d.api.blueprint import BlueprintModule, ModuleAsset
from m4d.api.meta import Model
from m4d.credentials import CredentialSource
from m4d.errors import FieldError, InvalidError

# Asset ids are catalog ids such as "finance/transactions" or "s3-main.loans": never a path, never "..".
ASSET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]*(/[A-Za-z0-9][A-Za-z0-9._:@-]*)*$")


MAX_CONFIG_BYTES = 4 << 20
MAX_CONFIG_NODES = 1_000_000


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML's safe loader (the C one when there is one) that refuses a key given twice, as kubectl's
    strict field validation does: with "last one wins", a hand edit could silently undo a setting."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[object, object]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                line = key_node.start_mark.line + 1
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is repeated (line {line})")
            seen.add(key)
        mapping: dict[object, object] = super().construct_mapping(node, deep=deep)
        return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_mapping)


def _expanded_size(value: object) -> int:
    """Values in `value` counted as validation will visit them (a value referenced twice counts twice),
    stopping once past MAX_CONFIG_NODES."""
    count, stack = 0, [value]
    while stack and count <= MAX_CONFIG_NODES:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def check_asset_id(value: str) -> str:
    if len(value) > 253 or not ASSET_ID.match(value) or ".." in value:
        raise ValueError(f"asset id {value[:80]!r} must be letters, digits and . _ : @ - in /-separated parts")
    return value


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tls(Model):
    """Serve grpc+tls with this certificate; the key file is a mounted secret, never inline."""

    cert_file: str = Field(min_length=1)
    key_file: str = Field(min_length=1)


class Listen(Model):
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535, description="0: pick a free port (reported in the ready file)")
    tls: Tls | None = None

    @property
    def scheme(self) -> str:
        return "grpc+tls" if self.tls is not None else "grpc"


class ClientGrant(Model):
    """One application's access: the digest of its bearer token and the assets it may read or write."""

    application: str = Field(min_length=1, description="namespace/name of the M4DApplication")
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    assets: list[str] = Field(default_factory=list)

    @classmethod
    def for_token(cls, application: str, token: str, assets: list[str]) -> ClientGrant:
        return cls(application=application, token_sha256=token_digest(token), assets=assets)


class ColumnSpec(Model):
    """A column as the catalog describes it; `type` is an Arrow type name (int64, string, timestamp[us])."""

    name: str = Field(min_length=1)
    type: str | None = None
    nullable: bool = True


class CopyOptions(Model):
    """For the copy module: what to do once the data is written."""

    register_copy: bool = Field(
        default=False, alias="register", description="Report the copy as a catalog entry in the status"
    )
    catalog: str | None = None
    rows_per_file: int = Field(default=4_000_000, ge=1)


class ModuleConfig(Model):
    name: str = Field(min_length=1)
    listen: Listen = Field(default_factory=Listen)
    assets: list[ModuleAsset] = Field(min_length=1)
    credentials: CredentialSource | None = None
    clients: list[ClientGrant] = Field(default_factory=list)
    catalog_columns: dict[str, list[ColumnSpec]] = Field(
        default_factory=dict, description="Per asset id: the columns the catalog declares (write validation)"
    )
    copy_: CopyOptions = Field(default_factory=CopyOptions, alias="copy")
    batch_rows: int = Field(default=65_536, ge=1, le=4_194_304)
    rows_per_partition: int = Field(default=1_048_576, ge=1, description="Rows per Flight endpoint (Parquet)")

    @field_validator("assets")
    @classmethod
    def _ids(cls, assets: list[ModuleAsset]) -> list[ModuleAsset]:
        seen: set[tuple[str, str]] = set()
        for asset in assets:
            check_asset_id(asset.asset_id)
            key = (asset.asset_id, asset.capability)
            if key in seen:
                raise ValueError(f"asset {asset.asset_id!r} is listed twice for {asset.capability}")
            seen.add(key)
        return assets

    @model_validator(mode="after")
    def _grants_name_known_assets(self) -> ModuleConfig:
        known = {a.asset_id for a in self.assets}
        for grant in self.clients:
            unknown = sorted(set(grant.assets) - known)
            if unknown:
                raise ValueError(f"client {grant.application} is granted unknown assets {unknown}")
        return self

    def asset(self, asset_id: str, capability: str) -> ModuleAsset | None:
        return next((a for a in self.assets if a.asset_id == asset_id and a.capability == capability), None)

    @classmethod
    def load(cls, path: Path | str) -> ModuleConfig:
        """Parse and validate a config file; InvalidError naming the problem or every bad field."""
        what = f"module config {path}"
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise InvalidError(what, [FieldError("", f"cannot be read: {error.strerror or error}")]) from None
        if len(data) > MAX_CONFIG_BYTES:
            raise InvalidError(what, [FieldError("", f"is larger than {MAX_CONFIG_BYTES} bytes")])
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            problem = f"is not UTF-8 (byte 0x{data[error.start]:02x} at offset {error.start})"
            raise InvalidError(what, [FieldError("", problem)]) from None
        try:
            raw = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader (C if available)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            raise InvalidError(what, [FieldError("", f"is not valid YAML{where}: {problem}")]) from None
        except RecursionError:
            raise InvalidError(what, [FieldError("", "is nested too deeply")]) from None
        if _expanded_size(raw) > MAX_CONFIG_NODES:  # aliases can make a small file a huge document
            raise InvalidError(what, [FieldError("", f"expands to more than {MAX_CONFIG_NODES} values")])
        try:
            return cls.model_validate(raw)
        except ValidationError as error:
            errors = [
                FieldError(".".join(str(p) for p in e["loc"]), e["msg"]) for e in error.errors(include_input=False)
            ]
            raise InvalidError(f"module config {path}", errors) from None

    def dump(self) -> str:
        return yaml.safe_dump(self.wire(), sort_keys=False)


def from_blueprint(
    module: BlueprintModule,
    *,
    credentials: CredentialSource,
    clients: list[ClientGrant] | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    catalog_columns: dict[str, list[ColumnSpec]] | None = None,
    capability: Literal["read", "write", "copy"] | None = None,
    tls: Tls | None = None,
) -> ModuleConfig:
    """The configuration of one module instance of a Blueprint, as the member agent writes it.

    `clients` grants each application's token its assets (default: none, so nobody can read until the
    agent says who may); `port` defaults to the deployment's, else 0 (a free one); `tls` serves grpc+tls.
    """
    assets = [a for a in module.assets if capability is None or a.capability == capability]
    return ModuleConfig(
        name=module.name,
        listen=Listen(host=host, port=port if port is not None else (module.deployment.port or 0), tls=tls),
        assets=assets,
        credentials=credentials,
        clients=clients or [],
        catalog_columns=catalog_columns or {},
    )
