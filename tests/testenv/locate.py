"""Where the test-server binaries live: the build cache, or a KUBEBUILDER_ASSETS directory.

The builder and the pytest fixtures both use this module, so a binary the builder reports as ready is the
binary the fixtures run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .versions import ALL_COMPONENTS, ETCD, KUBE_APISERVER, Component

STAMP_NAME = ".stamp"
# KUBEBUILDER_ASSETS (the envtest convention) must hold at least these to be used instead of our builds.
ASSET_NAMES = (KUBE_APISERVER.name, ETCD.name)


def cache_root() -> Path:
    """`$M4D_CACHE_DIR/testenv`, defaulting like the Makefile does to ~/.cache/m4d."""
    base = os.environ.get("M4D_CACHE_DIR") or str(Path.home() / ".cache" / "m4d")
    return Path(base) / "testenv"


def component_dir(component: Component) -> Path:
    return cache_root() / component.key


def cached_binary(component: Component) -> Path | None:
    """The cached binary, only once its stamp says the build finished (a half-written binary never counts)."""
    directory = component_dir(component)
    binary = directory / component.name
    if (directory / STAMP_NAME).is_file() and binary.is_file() and os.access(binary, os.X_OK):
        return binary
    return None


def assets_dir() -> Path | None:
    """The KUBEBUILDER_ASSETS directory when it holds a kube-apiserver and an etcd, else None."""
    value = os.environ.get("KUBEBUILDER_ASSETS")
    if not value:
        return None
    directory = Path(value)
    if all(_is_executable(directory / name) for name in ASSET_NAMES):
        return directory
    return None


def assets_problem() -> str | None:
    """Why a set KUBEBUILDER_ASSETS is not used, for messages; None when unset or usable."""
    value = os.environ.get("KUBEBUILDER_ASSETS")
    if not value or assets_dir() is not None:
        return None
    missing = [name for name in ASSET_NAMES if not _is_executable(Path(value) / name)]
    return f"KUBEBUILDER_ASSETS={value} has no executable {', '.join(missing)}"


def from_assets(component: Component) -> Path | None:
    directory = assets_dir()
    if directory is None:
        return None
    candidate = directory / component.name
    return candidate if _is_executable(candidate) else None


@dataclass(frozen=True)
class Located:
    component: Component
    path: Path | None
    source: str  # "KUBEBUILDER_ASSETS", "cache" or "missing"

    def require(self) -> Path:
        """The path, or an error that says where it was looked for and how to get it."""
        if self.path is None:
            raise FileNotFoundError(self.missing_message())
        return self.path

    def missing_message(self) -> str:
        where = [str(component_dir(self.component))]
        if os.environ.get("KUBEBUILDER_ASSETS"):
            where.insert(0, f"KUBEBUILDER_ASSETS={os.environ['KUBEBUILDER_ASSETS']}")
        return (
            f"{self.component.name} {self.component.version} not found under {' or '.join(where)}; run `make testenv`"
        )


def locate(component: Component) -> Located:
    """KUBEBUILDER_ASSETS first (for every binary it holds), then the build cache."""
    asset = from_assets(component)
    if asset is not None:
        return Located(component, asset, "KUBEBUILDER_ASSETS")
    cached = cached_binary(component)
    if cached is not None:
        return Located(component, cached, "cache")
    return Located(component, None, "missing")


def locate_all() -> dict[str, Located]:
    return {component.name: locate(component) for component in ALL_COMPONENTS}


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)
