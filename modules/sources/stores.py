"""Filesystems for `file` and `s3` connections, and the checks that keep a module inside its asset.

Paths come from the Blueprint (the catalog's connection), never from a client; they are still checked:
absolute, normalised, no `..`, so a tampered connection cannot reach outside what it names.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pyarrow import fs

from m4d.api.common import Connection
from m4d.credentials import CredentialStore, Scrubber, entry
from m4d.errors import FieldError, InvalidError

ACCESS_KEY_NAMES = ("access_key", "accessKeyID", "access_key_id", "AWS_ACCESS_KEY_ID")
SECRET_KEY_NAMES = ("secret_key", "secretAccessKey", "secret_access_key", "AWS_SECRET_ACCESS_KEY")


@dataclass(frozen=True)
class Location:
    """A filesystem and a path in it (a file, or a directory holding a dataset)."""

    filesystem: fs.FileSystem
    path: str
    display: str  # for messages: file:///data/x or s3://bucket/key (no endpoint credentials)


def _prop(connection: Connection, *names: str, required: bool = True) -> Any:
    for name in names:
        value = connection.properties.get(name)
        if value not in (None, ""):
            return value
    if required:
        raise InvalidError(f"{connection.kind} connection", [FieldError(f"properties.{names[0]}", "is required")])
    return None


def check_path(path: str, absolute: bool) -> str:
    if "\x00" in path or "\\" in path:
        raise InvalidError("connection path", [FieldError("path", f"{path!r} contains a NUL or a backslash")])
    parts = path.split("/")
    if ".." in parts or "." in parts:
        raise InvalidError("connection path", [FieldError("path", f"{path!r} contains '.' or '..' segments")])
    if absolute and not path.startswith("/"):
        raise InvalidError("connection path", [FieldError("path", f"{path!r} must be absolute")])
    return posixpath.normpath(path) if path not in ("", "/") else path


def locate(
    connection: Connection, credential_ref: str | None, credentials: CredentialStore | None, scrub: Scrubber
) -> Location:
    """The filesystem and path of a `file` or `s3` connection (credentials resolved, never exposed)."""
    if connection.kind == "file":
        # Relative paths are relative to the module's working directory (as the taxonomy says).
        path = check_path(str(_prop(connection, "path")), absolute=False)
        if not path.startswith("/"):
            path = posixpath.join(Path.cwd().as_posix(), path)
        return Location(fs.LocalFileSystem(), path, f"file://{path}")
    if connection.kind == "s3":
        bucket = str(_prop(connection, "bucket"))
        key = str(_prop(connection, "objectKey", "object_key", "prefix", required=False) or "").strip("/")
        if not bucket or "/" in bucket:
            raise InvalidError("s3 connection", [FieldError("properties.bucket", f"{bucket!r} is not a bucket name")])
        check_path(key, absolute=False)
        endpoint = _prop(connection, "endpoint", required=False)
        region = _prop(connection, "region", required=False)
        options: dict[str, Any] = {"region": str(region or "us-east-1")}
        if endpoint:
            parsed = urlparse(str(endpoint) if "://" in str(endpoint) else f"https://{endpoint}")
            options["endpoint_override"] = parsed.netloc
            options["scheme"] = parsed.scheme
            options["force_virtual_addressing"] = False
        if credential_ref:
            if credentials is None:
                raise InvalidError("s3 connection", [FieldError("credentialRef", "no credential store is configured")])
            values = credentials.resolve(credential_ref)
            scrub.add(values.values())
            options["access_key"] = entry(values, credential_ref, ACCESS_KEY_NAMES)
            options["secret_key"] = entry(values, credential_ref, SECRET_KEY_NAMES)
        else:
            options["anonymous"] = True
        path = f"{bucket}/{key}" if key else bucket
        return Location(fs.S3FileSystem(**options), path, f"s3://{path}")
    raise InvalidError("connection", [FieldError("kind", f"{connection.kind!r} is not a file store (file, s3)")])
