"""The package layout: folders mapped into one `m4d` namespace, layered, importable from anywhere."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from m4d.packaged import CLUSTER_TEMPLATES, SAMPLES, data_dir

ROOT = Path(__file__).resolve().parents[2]
# Each layer may import the core and the layers before it, never one after it.
LAYERS = ["m4d", "m4d.generator", "m4d.gitops", "m4d.modules", "m4d.controllers", "m4d.demo", "m4d.cli"]
# Data the product reads at run time, shipped as packages (found through importlib.resources).
DATA = ["m4d.samples", "m4d.cluster_templates"]
# The generator is pure: it renders (m4d.gitops writes Git); neither reads nor writes a cluster.
# (m4d.git.host's data types, a pull request and its draft, are what a review plan is made of.)
FORBIDDEN = {
    "m4d.generator": ["m4d.cluster", "m4d.runtime", "m4d.git.mirror", "m4d.git.remote", "m4d.git.host.files"],
    "m4d.gitops": ["m4d.cluster", "m4d.runtime"],
}


def package_dirs() -> dict[str, Path]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {package: ROOT / folder for package, folder in config["tool"]["setuptools"]["package-dir"].items()}


def layer_of(module: str) -> str:
    return max((layer for layer in LAYERS if module == layer or module.startswith(layer + ".")), key=len)


def imports(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return [name for name in found if name == "m4d" or name.startswith("m4d.")]


def test_every_layer_is_a_mapped_folder() -> None:
    assert set(package_dirs()) == {*LAYERS, *DATA}
    assert not (ROOT / "m4d" / "generator").exists()  # no symlinks or copies inside the core


def test_packaged_data_is_found_through_the_package() -> None:
    assert data_dir(SAMPLES) == ROOT / "samples"
    assert (data_dir(CLUSTER_TEMPLATES) / "plain.yaml").is_file()


@pytest.mark.parametrize("layer", LAYERS)
def test_layers_import_only_what_comes_before(layer: str) -> None:
    allowed = LAYERS[: LAYERS.index(layer) + 1]
    wrong = []
    for path in sorted(package_dirs()[layer].rglob("*.py")):
        for name in imports(path):
            target = layer_of(name)
            if target not in allowed or any(name.startswith(f) for f in FORBIDDEN.get(layer, [])):
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert wrong == []


def test_the_installed_package_maps_every_layer_outside_the_checkout(tmp_path: Path) -> None:
    code = "import importlib, sys; print(*(importlib.import_module(m).__file__ for m in sys.argv[1:]), sep='\\n')"
    result = subprocess.run(
        [sys.executable, "-I", "-c", code, *LAYERS, "m4d.cluster.interface", "m4d.controllers.registry.onboarding"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    files = [Path(line) for line in result.stdout.splitlines()]
    assert files[: len(LAYERS)] == [package_dirs()[layer] / "__init__.py" for layer in LAYERS]
    assert files[-1] == ROOT / "controllers" / "registry" / "onboarding.py"


def test_nothing_reaches_outside_the_repository() -> None:
    """Product, docs and tests read and link nothing beside the checkout (a user's clone has nothing there)."""
    outside = "/".join(("..", "shared"))  # spelled apart, so this file does not match itself
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    found = []
    for name in filter(None, listed.decode().split("\0")):
        path = ROOT / name
        if (
            path.is_file()
            and path.suffix in (".py", ".md", ".toml", ".mk", ".yaml", ".txt", ".cfg", "")
            and (outside in path.read_text(encoding="utf-8", errors="replace"))
        ):
            found.append(name)
    assert found == []


def test_docs_link_only_into_the_repository() -> None:
    """Every relative link of README.md and docs/ names a file of the checkout (examples in code blocks aside)."""
    link = re.compile(r"\]\(([^)\s]+)\)")
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    broken = []
    for page in pages:
        fenced = False
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith(("```", "~~~")):
                fenced = not fenced
            if fenced:
                continue
            for target in link.findall(line):
                if target.startswith(("http://", "https://", "mailto:", "#")):
                    continue
                resolved = (page.parent / target.split("#")[0]).resolve()
                if not resolved.is_relative_to(ROOT) or not resolved.exists():
                    broken.append(f"{page.relative_to(ROOT)}:{number}: {target}")
    assert broken == []
    assert len(pages) > 5  # the docs are where this test looks
