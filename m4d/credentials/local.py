"""Credentials from a local YAML file (`.m4d/secrets.yaml` in the embedded default): `{ref: {key: value}}`."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from m4d.api.strict import load_yaml_file
from m4d.credentials.interface import CredentialNotFound, CredentialStore, check_ref
from m4d.errors import FieldError, InvalidError, NotFoundError


def _refused(path: Path) -> InvalidError:
    return InvalidError(f"secrets file {path}", [FieldError("", "must map references to maps of strings")])


def read_secrets(path: Path) -> dict[str, Any]:
    """The secrets file's top-level mapping ({} when empty), read strictly: not UTF-8, not YAML, a repeated
    key or no mapping is an InvalidError naming the file and the line, never quoting it (a line may hold a
    secret)."""
    raw = load_yaml_file(path, source=f"secrets file {path}") or {}
    if not isinstance(raw, dict):
        raise _refused(path)
    return raw


class SecretsFile(CredentialStore):
    """Reads the file again when it changes, so rotated secrets are picked up without a restart."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[float, int] | None = None
        self._data: dict[str, dict[str, str]] = {}

    def __repr__(self) -> str:
        return f"SecretsFile({str(self.path)!r})"

    def _load(self) -> dict[str, dict[str, str]]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            raise NotFoundError(f"secrets file {self.path} does not exist") from None
        stamp = (stat.st_mtime, stat.st_size)
        with self._lock:
            if stamp != self._stamp:
                raw = read_secrets(self.path)
                if not all(isinstance(v, dict) for v in raw.values()):
                    raise _refused(self.path)
                self._data = {str(k): {str(a): str(b) for a, b in v.items()} for k, v in raw.items()}
                self._stamp = stamp
            return self._data

    def resolve(self, ref: str) -> dict[str, str]:
        check_ref(ref)
        values = self._load().get(ref)
        if values is None:
            raise CredentialNotFound(f"no credential {ref!r} in secrets file {self.path}")
        return dict(values)
