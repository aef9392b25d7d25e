"""Credentials from Vault (or OpenBao): KV v2 secrets, read with a token or through Kubernetes auth.

The only module that imports hvac. hvac's errors become m4d errors that name the reference and never
carry a value or a token; a token that expired is replaced by logging in again once.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import requests

from m4d.credentials.interface import CredentialNotFound, CredentialStore, check_ref
from m4d.errors import ForbiddenError, M4DError, TemporaryError, UnauthorizedError

SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"  # noqa: S105 - a path


def _reasons(error: hvac.exceptions.VaultError) -> str:
    """Vault's own messages ("permission denied", "invalid role name ..."): they never echo a token."""
    reasons = [str(e) for e in (getattr(error, "errors", None) or [])] or [type(error).__name__]
    return "; ".join(reasons)[:300]


class VaultStore(CredentialStore):
    """`resolve("m4d/s3-main")` (or `resolve("secret/data/m4d/s3-main")`) reads `<kv_mount>/data/m4d/s3-main`.

    Auth: a token (given, or read from `token_file`), or Kubernetes auth with `role` and the pod's
    service-account token, at auth mount `auth_path`.
    """

    def __init__(
        self,
        address: str,
        *,
        token: str | None = None,
        token_file: str | None = None,
        role: str | None = None,
        auth_path: str = "kubernetes",
        jwt_file: str = SERVICE_ACCOUNT_TOKEN,
        kv_mount: str = "secret",
        namespace: str | None = None,
        verify: bool | str = True,
        timeout: float = 10.0,
    ) -> None:
        if token is None and token_file is None and role is None:
            raise M4DError("Vault needs a token, a token file, or a Kubernetes auth role")
        self.address = address
        self.kv_mount = kv_mount
        self._token, self._token_file = token, token_file
        self._role, self._auth_path, self._jwt_file = role, auth_path, jwt_file
        self._client = hvac.Client(url=address, namespace=namespace, verify=verify, timeout=timeout)
        self._lock = threading.Lock()
        self._logged_in = False

    def __repr__(self) -> str:
        return f"VaultStore({self.address!r}, kv_mount={self.kv_mount!r})"

    def _login(self) -> None:
        if self._role is not None:
            jwt = Path(self._jwt_file).read_text().strip()
            self._call(
                "Kubernetes login",
                lambda: self._client.auth.kubernetes.login(role=self._role, jwt=jwt, mount_point=self._auth_path),
                login=True,
            )
        else:
            token = self._token if self._token is not None else Path(str(self._token_file)).read_text().strip()
            self._client.token = token
        self._logged_in = True

    def _call(self, what: str, fn: Any, login: bool = False) -> Any:
        try:
            return fn()
        except hvac.exceptions.InvalidPath:
            raise CredentialNotFound(f"{what}: not found in Vault at {self.address}") from None
        except (hvac.exceptions.Unauthorized, hvac.exceptions.Forbidden) as error:
            kind = UnauthorizedError if isinstance(error, hvac.exceptions.Unauthorized) or login else ForbiddenError
            raise kind(f"{what}: Vault at {self.address} refused: {_reasons(error)}") from None
        except (hvac.exceptions.VaultDown, hvac.exceptions.InternalServerError, hvac.exceptions.RateLimitExceeded):
            raise TemporaryError(f"{what}: Vault at {self.address} is unavailable", delay=5.0) from None
        except requests.RequestException as error:
            raise TemporaryError(f"{what}: cannot reach Vault at {self.address} ({type(error).__name__})") from None
        except hvac.exceptions.VaultError as error:
            if login:  # a bad role or auth mount: this module's login is misconfigured
                raise UnauthorizedError(f"{what}: Vault at {self.address} refused: {_reasons(error)}") from None
            raise M4DError(f"{what}: Vault refused: {_reasons(error)}") from None

    def _read(self, ref: str) -> dict[str, str]:
        response = self._call(
            f"credential {ref!r}",
            lambda: self._client.secrets.kv.v2.read_secret_version(
                path=ref, mount_point=self.kv_mount, raise_on_deleted_version=True
            ),
        )
        data = (response or {}).get("data", {}).get("data")
        if not isinstance(data, dict):
            raise CredentialNotFound(f"credential {ref!r}: Vault returned no data")
        return {str(k): str(v) for k, v in data.items()}

    def _path(self, ref: str) -> str:
        # References may be written as the KV v2 API path ("secret/data/m4d/x") or as the secret's path.
        prefix = f"{self.kv_mount}/data/"
        return ref[len(prefix) :] if ref.startswith(prefix) else ref

    def resolve(self, ref: str) -> dict[str, str]:
        check_ref(ref)
        ref = self._path(ref)
        with self._lock:
            if not self._logged_in:
                self._login()
            try:
                return self._read(ref)
            except (ForbiddenError, UnauthorizedError):
                if self._role is None and self._token_file is None:
                    raise
                self._login()  # the token may have expired: log in again once
                return self._read(ref)

    def _authenticated(self, what: str, call: Any) -> Any:
        with self._lock:
            if not self._logged_in:
                self._login()
            try:
                return self._call(what, call)
            except (ForbiddenError, UnauthorizedError):
                if self._role is None and self._token_file is None:
                    raise
                self._login()
                return self._call(what, call)

    def write(self, ref: str, values: dict[str, str], cas: int | None = None) -> None:
        """Store `values` under `ref` (a new KV v2 version); errors name the reference, never a value.

        `cas=0` writes only if `ref` does not exist yet (KV v2 check-and-set): Vault refuses otherwise."""
        check_ref(ref)
        path = self._path(ref)
        self._authenticated(
            f"writing credential {ref!r}",
            lambda: self._client.secrets.kv.v2.create_or_update_secret(
                path=path, secret=dict(values), mount_point=self.kv_mount, cas=cas
            ),
        )

    def delete(self, ref: str) -> None:
        """Remove `ref` with every version (absent already is fine)."""
        check_ref(ref)
        path = self._path(ref)
        with contextlib.suppress(CredentialNotFound):
            self._authenticated(
                f"deleting credential {ref!r}",
                lambda: self._client.secrets.kv.v2.delete_metadata_and_all_versions(
                    path=path, mount_point=self.kv_mount
                ),
            )

    def close(self) -> None:
        adapter = getattr(self._client, "adapter", None)
        if adapter is not None:
            adapter.close()
