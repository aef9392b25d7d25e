"""Each application's access token, minted when the application appears and forgotten when it goes.

The token is what the application's workload presents to its module endpoints; members grant it by
digest (see `m4d.credentials.app_tokens`). In the embedded default the credential store is the hub
directory's secrets file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from m4d.api.application import M4DApplication
from m4d.credentials.app_tokens import ensure_token_in_file, forget_token_in_file
from m4d.runtime.controller import Controller, Outcome

TOKEN_FINALIZER = "app.m4d.dev/access-token"  # noqa: S105 - a finalizer name


@dataclass
class TokenController(Controller[M4DApplication]):
    secrets_file: Path = field(kw_only=True)

    def __post_init__(self) -> None:
        self.kind = M4DApplication
        self.name = "access-tokens"
        self.finalizer = TOKEN_FINALIZER

    def reconcile(self, obj: M4DApplication) -> Outcome:
        ensure_token_in_file(self.secrets_file, obj.metadata.namespace or "default", obj.name)
        return Outcome()

    def finalize(self, obj: M4DApplication) -> Outcome:
        forget_token_in_file(self.secrets_file, obj.metadata.namespace or "default", obj.name)
        return Outcome()
