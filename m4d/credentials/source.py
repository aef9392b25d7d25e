"""Which credential store a process uses, as configuration; `open_store` turns it into a client."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from m4d.api.meta import Model
from m4d.credentials.interface import CredentialStore


class CredentialSource(Model):
    """`kind: file` (the embedded default) reads `path`; `kind: vault` talks to `address`."""

    kind: Literal["file", "vault"] = "file"
    path: str | None = Field(default=None, description="Secrets file (kind file)")
    address: str | None = Field(default=None, description="Vault address (kind vault)")
    auth: Literal["token", "kubernetes"] = "token"
    token_file: str | None = Field(default=None, description="File holding a Vault token (auth token)")
    token_env: str = Field(default="VAULT_TOKEN", description="Environment variable with a Vault token")
    role: str | None = Field(default=None, description="Vault role (auth kubernetes)")
    auth_path: str = "kubernetes"
    jwt_file: str | None = None
    kv_mount: str = "secret"
    namespace: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> CredentialSource:
        if self.kind == "file" and not self.path:
            raise ValueError("a file credential source needs path")
        if self.kind == "vault" and not self.address:
            raise ValueError("a vault credential source needs address")
        if self.kind == "vault" and self.auth == "kubernetes" and not self.role:
            raise ValueError("Kubernetes auth needs role")
        return self


def open_store(source: CredentialSource, environ: dict[str, str] | None = None) -> CredentialStore:
    import os  # noqa: PLC0415

    env = os.environ if environ is None else environ
    if source.kind == "file":
        from m4d.credentials.local import SecretsFile  # noqa: PLC0415

        return SecretsFile(str(source.path))
    from m4d.credentials.vault import SERVICE_ACCOUNT_TOKEN, VaultStore  # noqa: PLC0415 - hvac only when used

    if source.auth == "kubernetes":
        return VaultStore(
            str(source.address),
            role=source.role,
            auth_path=source.auth_path,
            jwt_file=source.jwt_file or SERVICE_ACCOUNT_TOKEN,
            kv_mount=source.kv_mount,
            namespace=source.namespace,
        )
    token = None if source.token_file else env.get(source.token_env)
    return VaultStore(
        str(source.address),
        token=token,
        token_file=source.token_file,
        kv_mount=source.kv_mount,
        namespace=source.namespace,
    )
