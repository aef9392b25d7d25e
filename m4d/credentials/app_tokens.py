"""Per-application access tokens: how a workload proves to a module which application it runs for.

The hub mints a random token per application into the credential store under
`m4d/applications/<namespace>/<name>` (entry `token`); the member agent grants that token's digest
access to the application's assets in each module's configuration; the data user reads it with
`m4d token` (which needs read access to that path, and to no other application's).
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import os
import secrets
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from m4d.credentials.interface import CredentialStore, entry
from m4d.credentials.local import read_secrets

TOKEN_ENTRY = "token"  # noqa: S105 - the entry name, not a secret

# libyaml's safe dumper when built in: the file holds one entry per application.
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def token_ref(namespace: str, name: str) -> str:
    return f"m4d/applications/{namespace}/{name}"


def token_secret_name(name: str) -> str:
    """The Secret holding application `name`'s token on a Kubernetes hub (in the application's namespace)."""
    candidate = f"m4d-token-{name}"
    if len(candidate) <= 253:
        return candidate
    return f"m4d-token-{name[:230]}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"


def mint() -> str:
    """A new access token: 256 random bits."""
    return secrets.token_urlsafe(32)


def read_token(store: CredentialStore, namespace: str, name: str) -> str:
    """The application's token; CredentialNotFound until the hub has minted it."""
    return entry(store.resolve(token_ref(namespace, name)), token_ref(namespace, name), [TOKEN_ENTRY])


@dataclass
class _Known:
    """What this process last wrote to a secrets file: the file's identity after the write, its content,
    and each top-level entry's YAML with the value it was made from."""

    stamp: tuple[int, int, int]
    data: dict[str, Any]
    blocks: dict[str, tuple[Any, str]] = field(default_factory=dict)


_KNOWN: dict[Path, _Known] = {}
_KNOWN_LOCK = threading.Lock()


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _dump(data: dict[str, Any], known: _Known | None) -> tuple[str, dict[str, tuple[Any, str]]]:
    """The file's YAML, as `yaml.dump(data, sort_keys=True)` writes it: the top-level entries are
    independent blocks, so an entry whose value did not change keeps the text it had."""
    before = known.blocks if known is not None else {}
    blocks: dict[str, tuple[Any, str]] = {}
    for key in sorted(data):
        value = data[key]
        kept = before.get(key)
        if kept is not None and kept[0] == value:
            blocks[key] = kept
        else:
            text = yaml.dump({key: value}, Dumper=_Dumper, sort_keys=True)
            blocks[key] = (copy.deepcopy(value), text)
    return "".join(text for _, text in blocks.values()) if blocks else yaml.dump({}, Dumper=_Dumper), blocks


def _edit_file(path: Path, change: Callable[[dict[str, Any]], bool]) -> bool:
    """Apply `change` to a local secrets file under a lock; write it back (atomically, owner-only) if it
    says it changed something. Readers never see half a file; concurrent writers wait for each other.
    A file no one changed since this process wrote it is not read again, and only entries that changed
    are turned into YAML again: an edit of a file of thousands of tokens costs little more than writing it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / f".{path.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with _KNOWN_LOCK:
            known = _KNOWN.pop(path, None)
        stamp = _stamp(path)
        if known is not None and known.stamp == stamp:
            data = known.data
        else:
            known = None
            data = (read_secrets(path) if stamp else None) or {}
        if not change(data):
            if known is not None:
                with _KNOWN_LOCK:
                    _KNOWN[path] = known
            return False
        text, blocks = _dump(data, known)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w") as out:
            out.write(text)
        Path(tmp).chmod(0o600)
        Path(tmp).replace(path)
        written = _stamp(path)
        if written is not None:
            with _KNOWN_LOCK:
                _KNOWN[path] = _Known(written, data, blocks)
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
