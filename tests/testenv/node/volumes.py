"""A pod's volumes as directories on this machine, written as a kubelet writes them.

ConfigMap, Secret, downward API and projected volumes (with service-account tokens from the TokenRequest
API, bound to the pod) are written with the kubelet's atomic-writer layout: the files live in a
timestamped directory, `..data` points at it, and each top-level name is a symlink through `..data`, so
an update swaps every file at once. They are refreshed while the pod runs (content changes, tokens
nearing expiry), as a kubelet resyncs them. emptyDir is a directory of the pod; hostPath is the path itself.
"""

from __future__ import annotations

import base64
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from m4d.errors import M4DError, NotFoundError
from tests.testenv.node.api import NodeApi, Obj
from tests.testenv.node.env import field_value

DEFAULT_MODE = 0o644
# Tokens are renewed once this share of their lifetime has passed (the kubelet's rule).
TOKEN_RENEW_AT = 0.8


class VolumeError(Exception):
    """A volume cannot be set up yet (a missing ConfigMap or Secret): the pod waits, as with FailedMount."""


Payload = dict[str, tuple[bytes, int]]  # relative path -> (content, mode)


def write_atomic(directory: Path, payload: Payload) -> bool:
    """Write `payload` with the atomic-writer layout; False when it already holds exactly that."""
    directory.mkdir(parents=True, exist_ok=True)
    data = directory / "..data"
    if data.is_symlink():
        current = directory / os.readlink(data)
        existing = {
            str(p.relative_to(current)): (p.read_bytes(), p.stat().st_mode & 0o777)
            for p in current.rglob("*")
            if p.is_file()
        }
        if existing == payload:
            return False
    stamp = directory / time.strftime(f"..%Y_%m_%d_%H_%M_%S.{time.monotonic_ns() % 10**9}")
    stamp.mkdir()
    for relative, (content, mode) in payload.items():
        target = stamp / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(mode)
    old = os.readlink(data) if data.is_symlink() else None
    temporary = directory / "..data_tmp"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(stamp.name)
    temporary.replace(data)
    tops = {relative.split("/", 1)[0] for relative in payload}
    for top in tops:
        link = directory / top
        if not link.is_symlink():
            link.symlink_to(f"..data/{top}")
    for entry in directory.iterdir():
        if entry.is_symlink() and not entry.name.startswith("..") and entry.name not in tops:
            entry.unlink()
    if old is not None:
        shutil.rmtree(directory / old, ignore_errors=True)
    return True


def _select(data: dict[str, bytes], source: dict[str, Any], what: str, default_mode: int) -> Payload:
    items = source.get("items")
    if not items:
        return {key: (value, default_mode) for key, value in data.items()}
    payload: Payload = {}
    for item in items:
        if item["key"] not in data:
            if source.get("optional"):
                continue
            raise VolumeError(f"{what} has no key {item['key']!r}")
        payload[item["path"]] = (data[item["key"]], int(item.get("mode") or default_mode))
    return payload


@dataclass
class _Token:
    token: str
    issued: float
    lifetime: float


@dataclass
class PodVolumes:
    api: NodeApi
    pod: Obj
    root: Path  # the pod's directory on this machine
    node_ip: str
    pod_ip: str
    paths: dict[str, Path] = field(default_factory=dict)
    _tokens: dict[str, _Token] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return str(self.pod["metadata"]["namespace"])

    def _get(self, kind: str, name: str, optional: bool) -> dict[str, bytes] | None:
        plural = "configmaps" if kind == "ConfigMap" else "secrets"
        try:
            obj = self.api.get(f"/api/v1/namespaces/{self.namespace}/{plural}/{name}")
        except NotFoundError:
            if optional:
                return None
            raise VolumeError(f'{kind.lower()} "{name}" not found') from None
        except M4DError as error:
            raise VolumeError(f"reading {kind} {name}: {error}") from None
        if kind == "ConfigMap":
            out = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
            out.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
            return out
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}

    def _object_payload(self, kind: str, source: dict[str, Any], default_mode: int) -> Payload:
        name = source.get("name") if kind == "ConfigMap" else source.get("secretName", source.get("name"))
        data = self._get(kind, str(name), bool(source.get("optional")))
        if data is None:
            return {}
        return _select(data, source, f"{kind.lower()} {name!r}", default_mode)

    def _downward(self, source: dict[str, Any], default_mode: int) -> Payload:
        payload: Payload = {}
        for item in source.get("items") or []:
            ref = item.get("fieldRef") or {}
            value = field_value(self.pod, str(ref.get("fieldPath")), self.node_ip, self.pod_ip)
            payload[item["path"]] = (value.encode(), int(item.get("mode") or default_mode))
        return payload

    def _token(self, source: dict[str, Any], mode: int) -> Payload:
        audience = source.get("audience") or None
        seconds = int(source.get("expirationSeconds") or 3600)
        key = f"{audience}/{seconds}"
        current = self._tokens.get(key)
        if current is None or time.time() > current.issued + TOKEN_RENEW_AT * current.lifetime:
            account = self.pod["spec"].get("serviceAccountName") or "default"
            try:
                answer = self.api.token(self.namespace, account, self.pod, audience, seconds)
            except M4DError as error:
                raise VolumeError(f"requesting a token for service account {account}: {error}") from None
            current = _Token(str(answer["token"]), time.time(), float(seconds))
            self._tokens[key] = current
        return {source.get("path") or "token": (current.token.encode(), mode)}

    def _projected(self, source: dict[str, Any]) -> Payload:
        default_mode = int(source.get("defaultMode") or DEFAULT_MODE)
        payload: Payload = {}
        for part in source.get("sources") or []:
            if "serviceAccountToken" in part:
                payload.update(self._token(part["serviceAccountToken"], default_mode))
            elif "configMap" in part:
                payload.update(self._object_payload("ConfigMap", part["configMap"], default_mode))
            elif "secret" in part:
                payload.update(self._object_payload("Secret", part["secret"], default_mode))
            elif "downwardAPI" in part:
                payload.update(self._downward(part["downwardAPI"], default_mode))
            else:
                raise VolumeError(f"projected source {sorted(part)} is not supported by this node")
        return payload

    def sync(self) -> bool:
        """Write every volume (again); True when a file changed. VolumeError when one cannot be set up."""
        changed = False
        for volume in self.pod["spec"].get("volumes") or []:
            name = volume["name"]
            directory = self.root / "volumes" / name
            if "emptyDir" in volume:
                directory.mkdir(parents=True, exist_ok=True)
            elif "hostPath" in volume:
                host = volume["hostPath"]
                directory = Path(host["path"])
                kind = host.get("type") or ""
                if kind == "DirectoryOrCreate":
                    directory.mkdir(parents=True, exist_ok=True)
                elif (kind == "Directory" and not directory.is_dir()) or (kind == "File" and not directory.is_file()):
                    raise VolumeError(f"hostPath {directory} is not a {kind.lower()}")
            else:
                payload = self._payload(name, volume)
                changed = write_atomic(directory, payload) or changed
            self.paths[name] = directory
        return changed

    def _payload(self, name: str, volume: dict[str, Any]) -> Payload:
        if "configMap" in volume:
            source = volume["configMap"]
            return self._object_payload("ConfigMap", source, int(source.get("defaultMode") or DEFAULT_MODE))
        if "secret" in volume:
            source = volume["secret"]
            return self._object_payload("Secret", source, int(source.get("defaultMode") or DEFAULT_MODE))
        if "downwardAPI" in volume:
            source = volume["downwardAPI"]
            return self._downward(source, int(source.get("defaultMode") or DEFAULT_MODE))
        if "projected" in volume:
            return self._projected(volume["projected"])
        kinds = sorted(set(volume) - {"name"})
        raise VolumeError(f"volume {name!r} of type {kinds} is not supported by this node")
