"""Blueprint signatures: proof that a Blueprint's decisions were made by the hub, not by a hand in Git.

The hub signs each Blueprint it renders with a key of the member cluster it is for (HMAC-SHA256 over
the Blueprint's identity and its spec in canonical form) and writes the signature into the Blueprint's
annotations; the member's agent checks it before it runs anything the Blueprint asks for. Anyone who
can write to the GitOps repository but holds no key (keys never enter Git) can change what a member
is told, but not what it runs. Each member has its own key, so one member's key forges nothing for
another.

Keys live in the credential store under `m4d/blueprint-signing/<cluster>` (entry `key`, 32 random bytes,
hex): the hub mints a member's key when it first renders for it; the member's agent reads its own. An
embedded hub keeps them in its secrets file (`FileKeys`); a hub on Kubernetes in Vault (`VaultKeys`), where
every replica finds the same key and each member's agent may read its own only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from m4d.api.blueprint import Blueprint, BlueprintSpec
from m4d.credentials.app_tokens import _edit_file
from m4d.credentials.interface import CredentialStore, entry
from m4d.errors import M4DError, NotFoundError

if TYPE_CHECKING:
    from m4d.credentials.vault import VaultStore

SIGNATURE_ANNOTATION = "m4d.dev/signature"
KEY_ENTRY = "key"
_SCHEME = "hmac-sha256"


def signing_ref(cluster: str) -> str:
    return f"m4d/blueprint-signing/{cluster}"


def _payload(cluster: str, namespace: str, name: str, spec: BlueprintSpec) -> bytes:
    canonical = json.dumps(spec.wire(), sort_keys=True, separators=(",", ":"))
    return f"m4d-blueprint/v1\n{cluster}\n{namespace}\n{name}\n{canonical}".encode()


def sign(key: bytes, cluster: str, namespace: str, name: str, spec: BlueprintSpec) -> str:
    """`hmac-sha256:<hex>` over the Blueprint's cluster, namespace, name and spec."""
    digest = hmac.new(key, _payload(cluster, namespace, name, spec), hashlib.sha256).hexdigest()
    return f"{_SCHEME}:{digest}"


def verify(key: bytes, cluster: str, blueprint: Blueprint) -> str | None:
    """None if `blueprint` carries the hub's signature for `cluster`; else why not (no secret in it)."""
    signature = blueprint.metadata.annotations.get(SIGNATURE_ANNOTATION)
    if not signature:
        return "it carries no signature"
    expected = sign(key, cluster, blueprint.metadata.namespace or "default", blueprint.name, blueprint.spec)
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        return "its signature does not match its content"
    return None


def read_signing_key(store: CredentialStore, cluster: str) -> bytes:
    """The member's key; CredentialNotFound until the hub has minted it."""
    ref = signing_ref(cluster)
    return bytes.fromhex(entry(store.resolve(ref), ref, [KEY_ENTRY]))


def ensure_signing_key_in_file(path: Path, cluster: str) -> bytes:
    """The member's key from a local secrets file, minted first if it has none."""
    ref = signing_ref(cluster)
    found: list[str] = []

    def mint(data: dict[str, Any]) -> bool:
        current = data.get(ref)
        if isinstance(current, dict) and current.get(KEY_ENTRY):
            found.append(str(current[KEY_ENTRY]))
            return False
        data[ref] = {KEY_ENTRY: secrets.token_hex(32)}
        found.append(data[ref][KEY_ENTRY])
        return True

    _edit_file(path, mint)
    return bytes.fromhex(found[0])


class FileKeys:
    """Member keys from a local secrets file, minted on first use and then kept in memory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._keys: dict[str, bytes] = {}

    def __call__(self, cluster: str) -> bytes:
        key = self._keys.get(cluster)
        if key is None:
            key = self._keys[cluster] = ensure_signing_key_in_file(self.path, cluster)
        return key


class VaultKeys:
    """Member keys in Vault, minted on first use (check-and-set: of two replicas minting at once, the
    first write wins and both sign with its key), then kept in memory."""

    def __init__(self, vault: VaultStore) -> None:
        self.vault = vault
        self._keys: dict[str, bytes] = {}

    def __call__(self, cluster: str) -> bytes:
        key = self._keys.get(cluster)
        if key is None:
            key = self._keys[cluster] = self._read_or_mint(cluster)
        return key

    def _read_or_mint(self, cluster: str) -> bytes:
        try:
            return read_signing_key(self.vault, cluster)
        except NotFoundError:
            pass
        try:
            self.vault.write(signing_ref(cluster), {KEY_ENTRY: secrets.token_hex(32)}, cas=0)
        except M4DError as refused:  # someone minted it first (or the write is not allowed: then say so)
            try:
                return read_signing_key(self.vault, cluster)
            except NotFoundError:
                raise refused from None
        return read_signing_key(self.vault, cluster)
