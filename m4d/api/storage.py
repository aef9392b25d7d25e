"""M4DStorageAccount: where implicit copies may be written."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from m4d.api.common import Connection
from m4d.api.meta import Condition, Model, Resource


class M4DStorageAccountSpec(Model):
    geography: str = Field(min_length=1, description="Region the storage is in; copies inherit it")
    connection: Connection
    format: str = "parquet"
    credential_ref: str | None = Field(default=None, description="Vault path of the credentials")


class M4DStorageAccountStatus(Model):
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)


class M4DStorageAccount(Resource):
    KIND: ClassVar[str] = "M4DStorageAccount"

    spec: M4DStorageAccountSpec
    status: M4DStorageAccountStatus | None = None
