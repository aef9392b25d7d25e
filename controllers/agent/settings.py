"""The member agent's settings: the command line's, and `m4d agent --config FILE` on a Kubernetes member.

credentials: {kind: vault, address: https://vault:8200, auth: kubernetes, role: m4d-agent}
                                  # where the agent reads applications' access tokens
moduleVault:                      # how modules on this member log in to Vault for their assets
  address: https://vault:8200
  kvMount: secret
  serviceAccount: m4d-module      # the modules' pods run as this service account
  audience: vault                 # of their projected service-account token (optional)
  role: m4d-module                # when a Blueprint names no role (its cluster's vaultRole)
  authPath: kubernetes
clusterDomain: cluster.local      # module endpoints: <service>.<namespace>.svc.<clusterDomain>
namespace: m4d-blueprints         # where Blueprints arrive (default: every namespace)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, ValidationError

from m4d.api.blueprint import Blueprint
from m4d.api.meta import Model
from m4d.api.strict import load_yaml_file
from m4d.connectors.catalog.model import pydantic_errors
from m4d.credentials.source import CredentialSource
from m4d.errors import InvalidError

# Where a module pod's token for Vault is mounted (a projected service-account token).
VAULT_TOKEN_DIR = "/var/run/secrets/m4d/vault"  # noqa: S105 - a path
VAULT_TOKEN_FILE = f"{VAULT_TOKEN_DIR}/token"


class ModuleVault(Model):
    address: str = Field(min_length=1)
    kv_mount: str = "secret"
    service_account: str = "m4d-module"
    audience: str | None = None
    role: str = "m4d-module"
    auth_path: str = "kubernetes"
    token_seconds: int = Field(default=3600, ge=600)

    def source(self, bp: Blueprint) -> CredentialSource:
        """The modules' credential source for one Blueprint: its cluster's role, this Vault."""
        login = bp.spec.vault
        return CredentialSource(
            kind="vault",
            address=self.address,
            auth="kubernetes",
            role=login.role if login else self.role,
            auth_path=login.auth_path if login else self.auth_path,
            jwt_file=VAULT_TOKEN_FILE,
            kv_mount=self.kv_mount,
        )


class AgentFile(Model):
    credentials: CredentialSource | None = None
    module_vault: ModuleVault | None = None
    cluster_domain: str | None = None
    namespace: str | None = None

    @classmethod
    def load(cls, path: Path) -> AgentFile:
        raw = load_yaml_file(path) or {}
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise InvalidError(str(path), pydantic_errors(exc)) from None


@dataclass(frozen=True)
class AgentSettings:
    cluster: str
    workdir: Path
    credentials: CredentialSource  # the agent's own: where it reads applications' tokens
    host: str = "127.0.0.1"
    cluster_domain: str = "cluster.local"  # endpoints of modules on Kubernetes: <service>.<ns>.svc.<domain>
    module_vault: ModuleVault | None = None  # Kubernetes members: modules log in to Vault themselves
    namespace: str | None = None  # where Blueprints arrive (None: every namespace)
    # Blueprints reconciled at once: starting or stopping one application's modules never waits for another's.
    workers: int = 4
