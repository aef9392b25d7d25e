"""Image references → what a container of that image runs here: the node's stand-in for a registry.

There is no container engine, so an image is a mapping to local files: its entry point and command (as
an image's config would say), the environment it sets (PATH pointing into the virtualenv that holds the
project's wheel), its working directory and its user. A pod asking for an image the map does not know
waits with ErrImagePull / ImagePullBackOff, as on a node whose registry lacks the image.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Image:
    repository: str  # "ghcr.io/m4d/m4d", or a glob ("*/m4d/*")
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str = "/"
    user: str = "0"  # as the image's USER says; runAsNonRoot is checked against it

    def wire(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "entrypoint": list(self.entrypoint),
            "cmd": list(self.cmd),
            "env": self.env,
            "workingDir": self.working_dir,
            "user": self.user,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Image:
        return cls(
            repository=data["repository"],
            entrypoint=tuple(data.get("entrypoint") or ()),
            cmd=tuple(data.get("cmd") or ()),
            env=dict(data.get("env") or {}),
            working_dir=data.get("workingDir") or "/",
            user=str(data.get("user") or "0"),
        )


def repository(reference: str) -> str:
    """`ghcr.io/m4d/m4d:0.1.0` and `ghcr.io/m4d/m4d@sha256:…` → `ghcr.io/m4d/m4d` (a registry port stays)."""
    name = reference.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


@dataclass(frozen=True)
class Images:
    images: tuple[Image, ...]

    def resolve(self, reference: str) -> Image | None:
        repo = repository(reference)
        return next((i for i in self.images if fnmatch.fnmatchcase(repo, i.repository)), None)

    def dump(self, path: Path) -> Path:
        path.write_text(json.dumps([i.wire() for i in self.images], indent=2))
        return path

    @classmethod
    def load(cls, path: Path) -> Images:
        return cls(tuple(Image.from_wire(item) for item in json.loads(path.read_text())))
