"""The package list, derived from the folders `[tool.setuptools.package-dir]` in pyproject.toml maps.

Everything else (metadata, dependencies, package data) is in pyproject.toml. Every folder below a mapped
one is a package, data-only folders (generator/argocd_crds) and namespace packages included, so a new
subpackage ships without being listed anywhere.
"""

import tomllib
from pathlib import Path

from setuptools import find_namespace_packages, setup

ROOT = Path(__file__).resolve().parent
SKIP = ["__pycache__", "*.__pycache__"]


def packages() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    found = []
    for package, folder in config["tool"]["setuptools"]["package-dir"].items():
        found += [package, *(f"{package}.{name}" for name in find_namespace_packages(ROOT / folder, exclude=SKIP))]
    return found


setup(packages=packages())
