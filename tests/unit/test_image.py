"""The container image definition (it cannot be built here: no container engine) agrees with the package
layout and with what the charts, module descriptors and the test nodes expect of it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from m4d import __version__
from m4d.modules.descriptors import load_descriptors
from tests.testenv.workloads import IMAGE_USER, PROJECT_IMAGES

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
IMAGE = "ghcr.io/m4d/m4d"


def _folders() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return set(config["tool"]["setuptools"]["package-dir"].values())


def test_every_package_folder_goes_into_the_wheel_build() -> None:
    copied = set(re.findall(r"^COPY (\S+)/ \1/$", DOCKERFILE, re.MULTILINE))
    assert copied == _folders()
    allowed = {
        line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")
    }
    assert _folders() | {"pyproject.toml", "setup.py", "README.md"} <= allowed


def test_the_image_runs_as_a_numeric_non_root_user() -> None:
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, re.MULTILINE)
    assert users == [f"{IMAGE_USER}:{IMAGE_USER}"]  # numeric: runAsNonRoot can check it
    assert f"--uid {IMAGE_USER}" in DOCKERFILE
    base = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, re.MULTILINE)
    assert base and re.search(r":3\.11\.\d+-slim-bookworm$", base[0])  # a pinned release, not :latest


def test_modules_and_the_test_nodes_use_the_one_image() -> None:
    assert IMAGE in PROJECT_IMAGES
    for module in load_descriptors():
        images = {module.spec.deployment.image}
        manifest = module.spec.deployment.manifest or {}
        images |= {
            c["image"] for c in manifest.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
        }
        assert images == {f"{IMAGE}:{__version__}"}, module.name
