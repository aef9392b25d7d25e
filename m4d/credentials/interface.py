"""The credential store interface: a reference in, a small map of secret values out.

A reference is what resources carry (`credentialRef`, a HashColumn `keyRef`): a path such as
`m4d/data/s3-main`. Values never appear in an error, a log line or a repr; errors name the reference.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

from m4d.errors import InvalidError, NotFoundError


class CredentialNotFound(NotFoundError):
    reason = "CredentialNotFound"


class CredentialStore(ABC):
    """Resolves credential references. Implementations translate their client's errors to m4d.errors."""

    @abstractmethod
    def resolve(self, ref: str) -> dict[str, str]:
        """The entries stored under `ref` (e.g. {"access_key": ..., "secret_key": ...}).

        Raises CredentialNotFound if there is none, TemporaryError when the store is unreachable,
        UnauthorizedError/ForbiddenError when this module may not read it.
        """

    def close(self) -> None:
        """Release connections; the default has none."""


def check_ref(ref: str) -> str:
    """References are plain paths: no empty, '.' or '..' segments, no control characters."""
    bad = not ref or len(ref) > 512 or ref.startswith("/") or any(ord(c) < 32 for c in ref)
    if bad or any(part in ("", ".", "..") for part in ref.split("/")):
        raise InvalidError(f"credential reference {ref!r}", [])
    return ref


def entry(values: dict[str, str], ref: str, names: Iterable[str]) -> str:
    """The first of `names` present in a credential (or its only entry); names the missing keys otherwise."""
    wanted = list(names)
    for name in wanted:
        if name in values:
            return values[name]
    if len(values) == 1:
        return next(iter(values.values()))
    raise CredentialNotFound(f"credential {ref!r} has no entry named {' or '.join(wanted)}")


class Scrubber:
    """Replaces known secret values in text (error messages from drivers can echo connection strings)."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, values: Iterable[str]) -> None:
        self._secrets.update(v for v in values if len(v) >= 4)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text
