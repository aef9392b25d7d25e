"""Which Blueprint the agent may act on: only one that carries the hub's signature for this member.

A Blueprint changed in Git by anyone but the hub (a hand edit, a force-push of something the hub never
signed) does not verify. The agent then keeps running the last version of that Blueprint it verified,
exactly as it was, and reports the refusal; with no verified version (a Blueprint added by hand, or an
agent started after the change) nothing of it runs. The hub reverts such a change within seconds; in
between, no module ever runs decisions the hub did not make.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from m4d.api.blueprint import Blueprint
from m4d.credentials.interface import CredentialStore
from m4d.credentials.signing import read_signing_key, verify
from m4d.errors import NotFoundError

log = logging.getLogger("m4d.agent")


@dataclass(frozen=True)
class Verdict:
    run: Blueprint | None  # what to run: the Blueprint itself, its last verified version, or nothing
    refusal: str | None = None  # why the Blueprint as it is was not taken (no secret in it)
    waiting: bool = False  # this member's key is not there yet (the hub mints it when it first renders)


@dataclass
class Trust:
    cluster: str
    store: Callable[[], CredentialStore]
    _good: dict[str, Blueprint] = field(default_factory=dict)
    _warned: set[tuple[str, str | None]] = field(default_factory=set)

    def check(self, bp: Blueprint) -> Verdict:
        key_of = f"{bp.metadata.namespace or 'default'}/{bp.name}"
        try:
            key = read_signing_key(self.store(), self.cluster)
        except NotFoundError:
            return Verdict(None, f"waiting for the signing key of cluster {self.cluster} from the hub", waiting=True)
        why = verify(key, self.cluster, bp)
        if why is None:
            self._good[key_of] = bp
            return Verdict(bp)
        last = self._good.get(key_of)
        if last is not None and last.metadata.uid != bp.metadata.uid:
            last = None  # a Blueprint of the same name made anew: nothing of the old one stands for it
        refusal = f"Blueprint {key_of} was changed outside the hub ({why}): refused; " + (
            "its last signed version runs on" if last is not None else "nothing of it runs"
        )
        if (key_of, bp.metadata.resource_version) not in self._warned:
            self._warned.add((key_of, bp.metadata.resource_version))
            log.warning("%s", refusal)
        return Verdict(last, refusal)

    def forget(self, bp: Blueprint) -> None:
        key_of = f"{bp.metadata.namespace or 'default'}/{bp.name}"
        self._good.pop(key_of, None)
        self._warned = {w for w in list(self._warned) if w[0] != key_of}  # a copy: other workers add to it
