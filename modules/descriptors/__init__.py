"""The M4DModule descriptors of the modules in this package, as an operator registers them."""

from __future__ import annotations

from pathlib import Path

import yaml

from m4d.api.module import M4DModule

DIRECTORY = Path(__file__).parent


def descriptor_files() -> list[Path]:
    return sorted(DIRECTORY.glob("*.yaml"))


def load_descriptors() -> list[M4DModule]:
    """Every descriptor, validated as the API types (the same check the store applies)."""
    return [M4DModule.model_validate(yaml.safe_load(path.read_text())) for path in descriptor_files()]


__all__ = ["DIRECTORY", "descriptor_files", "load_descriptors"]
