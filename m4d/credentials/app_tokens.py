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
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from m4d.credentials.interface import CredentialStore, entry

TOKEN_ENTRY = "token"  # noqa: S105 - the entry name, not a secret

# libyaml's safe loader and dumper when built in: the file holds one entry per application.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


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
        data = (yaml.load(path.read_text(), Loader=_Loader) if path.exists() else None) or {}  # noqa: S506 - safe
        if not change(data):
            return False
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w") as out:
            yaml.dump(data, out, Dumper=_Dumper, sort_keys=True)
        Path(tmp).chmod(0o600)
        Path(tmp).replace(path)
        return True


def edit_tokens_in_file(
    path: Path, mint: Iterable[tuple[str, str]] = (), forget: Iterable[tuple[str, str]] = ()
) -> bool:
    """Mint the tokens of the (namespace, name) applications in `mint` that have none, and remove those
    of `forget`, in one edit of the file; True if it changed."""
    wanted = [token_ref(ns, name) for ns, name in mint]
    gone = [token_ref(ns, name) for ns, name in forget]

    def edit(data: dict[str, Any]) -> bool:
        changed = False
        for ref in wanted:
            if not (isinstance(data.get(ref), dict) and data[ref].get(TOKEN_ENTRY)):
                data[ref] = {TOKEN_ENTRY: secrets.token_urlsafe(32)}
                changed = True
        for ref in gone:
            changed = data.pop(ref, None) is not None or changed
        return changed

    return _edit_file(path, edit)


def ensure_token_in_file(path: Path, namespace: str, name: str) -> bool:
    """Mint the application's token into a local secrets file unless it is there; True if minted."""
    return edit_tokens_in_file(path, mint=[(namespace, name)])


def forget_token_in_file(path: Path, namespace: str, name: str) -> bool:
    """Remove a deleted application's token, so it cannot be used again."""
    return edit_tokens_in_file(path, forget=[(namespace, name)])
