"""What a Flight module serves, and to whom: one immutable value, replaced whole when its configuration
changes (a policy tightened, a grant withdrawn), so every call sees one configuration or the next.

`Served.build` opens the configuration's assets, reusing those whose definition did not change (their
sources, transforms and keys stay as they are) and opening the others, which fails as start-up fails.
A stream or a write that began under one value and finds another when it goes on asks `still_serves`
whether its caller may still read that asset through the very same transforms; if not, it ends.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from m4d.api.blueprint import ModuleAsset
from m4d.credentials import CredentialStore, Scrubber
from m4d.modules.assets import ReadableAsset, WritableAsset
from m4d.modules.config import ModuleConfig
from m4d.modules.flight.auth import Caller


class ReloadRefused(Exception):
    """A configuration change a running module cannot apply in place (where it listens): restart it."""


def _key(asset: ModuleAsset, config: ModuleConfig) -> str:
    # What an opened asset depends on: its definition and the batching it was opened with.
    return f"{asset.model_dump_json()}|{config.batch_rows}|{config.rows_per_partition}|{config.catalog_columns}"


@dataclass(frozen=True)
class Served:
    config: ModuleConfig
    readable: dict[str, ReadableAsset]
    writable: dict[str, WritableAsset]
    callers: tuple[tuple[bytes, Caller], ...]  # (token digest, who it is and what it may use)
    _keys: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)

    @classmethod
    def build(
        cls,
        config: ModuleConfig,
        credentials: CredentialStore | None,
        scrub: Scrubber,
        previous: Served | None = None,
    ) -> Served:
        """Open what `config` serves; assets unchanged since `previous` are reused as they are."""
        if previous is not None and previous.config.listen != config.listen:
            raise ReloadRefused("the module's listen address changed")
        readable: dict[str, ReadableAsset] = {}
        writable: dict[str, WritableAsset] = {}
        keys: dict[tuple[str, str], str] = {}
        for asset in config.assets:
            key = _key(asset, config)
            slot = (asset.asset_id, "write" if asset.capability == "write" else "read")
            keys[slot] = key
            reuse = previous is not None and previous._keys.get(slot) == key
            if slot[1] == "read":
                old = previous.readable.get(asset.asset_id) if previous is not None and reuse else None
                readable[asset.asset_id] = old or ReadableAsset.open(asset, config, credentials, scrub)
            else:
                kept = previous.writable.get(asset.asset_id) if previous is not None and reuse else None
                writable[asset.asset_id] = kept or WritableAsset.open(asset, config, credentials, scrub)
        callers = tuple(
            (bytes.fromhex(g.token_sha256), Caller(g.application, frozenset(g.assets), bytes.fromhex(g.token_sha256)))
            for g in config.clients
        )
        return cls(config, readable, writable, callers, keys)

    def find(self, token: str) -> Caller | None:
        """The caller a bearer token stands for (compared in constant time with every grant)."""
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        for known, caller in self.callers:  # compare with every grant: timing does not tell which matched
            if hmac.compare_digest(known, digest):
                found = caller
        return found

    def caller(self, digest: bytes) -> Caller | None:
        return next((c for known, c in self.callers if hmac.compare_digest(known, digest)), None)

    def still_serves(self, caller: Caller, asset_id: str, asset: ReadableAsset | WritableAsset) -> bool:
        """Whether `caller` may still use `asset_id`, and through `asset` itself (transforms unchanged)."""
        now = self.caller(caller.digest)
        if now is None or not now.may_use(asset_id):
            return False
        table: dict[str, ReadableAsset] | dict[str, WritableAsset] = (
            self.readable if isinstance(asset, ReadableAsset) else self.writable
        )
        return table.get(asset_id) is asset

    def changes(self, previous: Served) -> list[str]:
        """What changed since `previous`, in words for the log (names, never tokens)."""
        out = []
        before = {c.application: c.assets for _, c in previous.callers}
        after = {c.application: c.assets for _, c in self.callers}
        for app in sorted(before.keys() | after.keys()):
            if before.get(app) != after.get(app):
                out.append(f"grants of {app}: {sorted(before.get(app, ()))} -> {sorted(after.get(app, ()))}")
        for slot in sorted(previous._keys.keys() | self._keys.keys()):
            if previous._keys.get(slot) != self._keys.get(slot):
                what = "added" if slot not in previous._keys else "changed" if slot in self._keys else "removed"
                out.append(f"asset {slot[0]} ({slot[1]}) {what}")
        return out
