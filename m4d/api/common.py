"""Values shared by several kinds: interfaces, connections, policy actions, endpoints.

Free-form strings here (protocols, formats, action names, connection kinds) are checked against the
taxonomy, which an operator can extend; the schema only fixes their shape.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from m4d.api.meta import Model

Flow = Literal["read", "write", "copy"]
Capability = Literal["read", "write", "copy", "transform"]


class Interface(Model):
    """How data is exchanged: a protocol (connection type) and a data format."""

    protocol: str = Field(min_length=1)
    dataformat: str | None = None

    def __str__(self) -> str:
        return f"{self.protocol}/{self.dataformat}" if self.dataformat else self.protocol


class Action(Model):
    """A policy decision a module enforces, e.g. RedactColumn on [ssn] or FilterRows with a predicate.

    `options` carries action-specific arguments (`value` for redaction, `keyRef` for hashing,
    `predicate` for filtering); the taxonomy says which each action takes.
    """

    name: str = Field(min_length=1)
    columns: list[str] = Field(default_factory=list)
    options: dict[str, str] = Field(default_factory=dict)


class Connection(Model):
    """Where an asset lives: a connection kind from the taxonomy (s3, file, postgres, ...) and its fields.

    Never holds a secret: credentials are referenced separately by `credentialRef`.
    """

    kind: str = Field(min_length=1)
    properties: dict[str, Any] = Field(default_factory=dict)


class DataStore(Model):
    """An asset's location as a module needs it: connection, format and the credential to use."""

    connection: Connection
    format: str | None = None
    credential_ref: str | None = Field(default=None, description="Vault path of the credentials, never the secret")


class Endpoint(Model):
    """Where a workload reaches a module, e.g. grpc://127.0.0.1:40123 for Arrow Flight."""

    protocol: str
    scheme: str = "grpc"
    hostname: str
    port: int = Field(ge=1, le=65535)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.hostname}:{self.port}"
