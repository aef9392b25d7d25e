"""Per-application access tokens: how a workload proves to a module which application it runs for.

The hub mints a random token per application into the credential store under
`m4d/applications/<namespace>/<name>` (entry `token`); the member agent grants that token's digest
access to the application's assets in each module's configuration; the data user reads it with
`m4d token` (which needs read access to that path, and to no other application's).
"""

from __future__ import annotations

import fcntl
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from m4d.credentials.interface import CredentialStore, entry

TOKEN_ENTRY = "token"  # noqa: S105 - the entry name, not a secret


def token_ref(namespace: str, name: str) -> str:
    return f"m4d/applications/{namespace}/{name}"


def read_token(store: CredentialStore, namespace: str, name: str) -> str:
    """The application's token; CredentialNotFound until the hub has minted it."""
    return entry(store.resolve(token_ref(namespace, name)), token_ref(namespace, name), [TOKEN_ENTRY])


def _edit_file(path: Path, change: Callable[[dict[str, Any]], bool]) -> bool:
    """Apply `change` to a local secrets file under a lock; write it back (atomically, owner-only) if it
    says it changed something. Readers never see half a file; concurrent writers wait for each other."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / f".{path.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
        if not change(data):
            return False
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w") as out:
            yaml.safe_dump(data, out, sort_keys=True)
        Path(tmp).chmod(0o600)
        Path(tmp).replace(path)
        return True


def ensure_token_in_file(path: Path, namespace: str, name: str) -> bool:
    """Mint the application's token into a local secrets file unless it is there; True if minted."""
    ref = token_ref(namespace, name)

    def mint(data: dict[str, Any]) -> bool:
        if isinstance(data.get(ref), dict) and data[ref].get(TOKEN_ENTRY):
            return False
        data[ref] = {TOKEN_ENTRY: secrets.token_urlsafe(32)}
        return True

    return _edit_file(path, mint)


def forget_token_in_file(path: Path, namespace: str, name: str) -> bool:
    """Remove a deleted application's token, so it cannot be used again."""
    ref = token_ref(namespace, name)
    return _edit_file(path, lambda data: data.pop(ref, None) is not None)
