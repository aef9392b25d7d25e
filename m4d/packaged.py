"""Data that ships inside the package (samples, cluster templates, CRDs, taxonomy), found the same way in a
checkout, an editable install and an installed wheel: through `importlib.resources`, never relative to a
source file or the current directory.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from m4d.errors import PermanentError

SAMPLES = "m4d.samples"
CLUSTER_TEMPLATES = "m4d.cluster_templates"


def data_dir(package: str) -> Path:
    """The folder of a data package on disk (pip installs wheels unpacked, so it always has one)."""
    try:
        folder = resources.files(package)
    except ModuleNotFoundError as e:
        raise PermanentError(f"package data {package} is not installed: reinstall m4d", reason="NotInstalled") from e
    if not isinstance(folder, Path) or not folder.is_dir():
        raise PermanentError(f"package data {package} is not a folder on disk ({folder})", reason="NotInstalled")
    return folder
