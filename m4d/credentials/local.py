"""Credentials from a local YAML file (`.m4d/secrets.yaml` in the embedded default): `{ref: {key: value}}`."""

from __future__ import annotations

import threading
from pathlib import Path

import yaml

from m4d.credentials.interface import CredentialNotFound, CredentialStore, check_ref
from m4d.errors import InvalidError, NotFoundError


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
                try:
                    raw = yaml.safe_load(self.path.read_text()) or {}
                except yaml.YAMLError as error:
                    # The parser's message can quote the offending line, which may hold a secret.
                    where = getattr(error, "problem_mark", None)
                    line = f" (line {where.line + 1})" if where is not None else ""
                    raise InvalidError(f"secrets file {self.path}{line} is not valid YAML", []) from None
                if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
                    raise InvalidError(f"secrets file {self.path} must map references to maps of strings", [])
                self._data = {str(k): {str(a): str(b) for a, b in v.items()} for k, v in raw.items()}
                self._stamp = stamp
            return self._data

    def resolve(self, ref: str) -> dict[str, str]:
        check_ref(ref)
        values = self._load().get(ref)
        if values is None:
            raise CredentialNotFound(f"no credential {ref!r} in secrets file {self.path}")
        return dict(values)
