"""Applications' access tokens on a Kubernetes hub (hub.yaml `tokens:`), one reconcile each.

The token is kept as a Secret `m4d-token-<application>` in the application's namespace (key `token`,
owned by the application so it goes with it even if the finalizer never runs, named in the application's
status), which the workload mounts or the data user reads with `m4d token`; and, when Vault is
configured, at `m4d/applications/<namespace>/<name>` in Vault, where the member agents read it to grant it
by digest. Vault is the source when both hold one: agents grant what Vault holds. Deleting the
application removes both. (The embedded default keeps tokens in the hub directory's secrets file:
tokens.py.)
"""

from __future__ import annotations

import base64
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from m4d.api.application import M4DApplication
from m4d.api.meta import API_GROUP, API_VERSION
from m4d.cluster.kube_manifests import Manifests
from m4d.controllers.application.tokens import TOKEN_FINALIZER
from m4d.credentials.app_tokens import TOKEN_ENTRY, mint, read_token, token_ref, token_secret_name
from m4d.credentials.interface import CredentialNotFound
from m4d.errors import AlreadyExistsError, ConflictError, NotFoundError
from m4d.runtime.controller import Controller, Outcome

if TYPE_CHECKING:
    from m4d.credentials.vault import VaultStore

MANAGED_BY = {"app.kubernetes.io/managed-by": "m4d-hub"}


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


@dataclass
class SecretTokens:
    """Tokens as Secrets on a Kubernetes hub, and in Vault for the member agents when `vault` is set."""

    manifests: Manifests
    vault: VaultStore | None = None

    def _secret(self, app: M4DApplication) -> dict[str, Any] | None:
        with contextlib.suppress(NotFoundError):
            return self.manifests.get("v1", "Secret", token_secret_name(app.name), app.metadata.namespace)
        return None

    def ensure(self, app: M4DApplication) -> None:
        namespace = app.metadata.namespace or "default"
        secret = self._secret(app)
        held = (secret or {}).get("data", {}).get(TOKEN_ENTRY)
        current = base64.b64decode(held).decode() if held else None
        in_vault = None
        if self.vault is not None:
            with contextlib.suppress(CredentialNotFound):
                in_vault = read_token(self.vault, namespace, app.name)
        token = in_vault or current or mint()
        if self.vault is not None and in_vault is None:
            self.vault.write(token_ref(namespace, app.name), {TOKEN_ENTRY: token})
        if secret is None:
            try:
                self.manifests.create(self._manifest(app, token))
            except AlreadyExistsError:
                raise ConflictError(f"Secret {namespace}/{token_secret_name(app.name)} appeared meanwhile") from None
        elif current != token:
            secret["data"] = {TOKEN_ENTRY: _b64(token)}
            self.manifests.replace(secret)

    def _manifest(self, app: M4DApplication, token: str) -> dict[str, Any]:
        owner = {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "M4DApplication", "name": app.name,
                 "uid": app.metadata.uid}  # fmt: skip
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": token_secret_name(app.name),
                "namespace": app.metadata.namespace or "default",
                "labels": dict(MANAGED_BY),
                "annotations": {"m4d.dev/application": f"{app.metadata.namespace}/{app.name}"},
                # Garbage-collected with its application even if the finalizer never runs.
                "ownerReferences": [owner] if app.metadata.uid else [],
            },
            "data": {TOKEN_ENTRY: _b64(token)},
        }

    def forget(self, app: M4DApplication) -> None:
        self.manifests.delete("v1", "Secret", token_secret_name(app.name), app.metadata.namespace)
        if self.vault is not None:
            self.vault.delete(token_ref(app.metadata.namespace or "default", app.name))

    def close(self) -> None:
        if self.vault is not None:
            self.vault.close()


@dataclass
class SecretTokenController(Controller[M4DApplication]):
    store: SecretTokens = field(kw_only=True)

    def __post_init__(self) -> None:
        self.kind = M4DApplication
        self.name = "access-tokens"
        self.finalizer = TOKEN_FINALIZER

    def reconcile(self, obj: M4DApplication) -> Outcome:
        self.store.ensure(obj)
        return Outcome()

    def finalize(self, obj: M4DApplication) -> Outcome:
        self.store.forget(obj)
        return Outcome()
