"""A built wheel is the product: installed into a fresh virtualenv outside the checkout, it runs the demo and
onboards a member from a packaged template, with nothing of the source tree (or anything beside it) in reach.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(argv)}\n{done.stdout}\n{done.stderr}"
    return done


def source_copy(into: Path) -> Path:
    """Only what pyproject names: the wheel must not depend on anything else in the checkout."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    into.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, into / name)
    junk = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in config["tool"]["setuptools"]["package-dir"].values():
        shutil.copytree(ROOT / folder, into / folder, ignore=junk)
    return into


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the sources, installed with its dependencies into a new virtualenv."""
    base = tmp_path_factory.mktemp("wheel")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", str(base))}
    src = source_copy(base / "src")
    build = run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(src), "-w", str(base / "dist")], base, env, 600
    )
    assert "warning" not in (build.stdout + build.stderr).lower(), build.stderr  # setuptools stays quiet
    (wheel,) = (base / "dist").glob("m4d-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for packaged in (
        "m4d/samples/catalog/assets.yaml",
        "m4d/cluster_templates/plain.yaml",
        "m4d/generator/argocd_crds/application-crd.yaml",
        "m4d/generator/argocd_crds/SOURCE.txt",
        "m4d/taxonomy/layers/00-base.json",
        "m4d/modules/descriptors/arrow-flight.yaml",
    ):
        assert packaged in names, packaged
    assert not [n for n in names if n.split("/")[0] not in ("m4d", wheel.name.split("-py3")[0] + ".dist-info")]
    venv = base / "venv"
    run([sys.executable, "-m", "venv", str(venv)], base, env, 300)
    run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], base, env, 900)
    shutil.rmtree(src)  # nothing may point back at the sources
    return venv


def product_env(venv: Path) -> dict[str, str]:
    # No PYTHONPATH, no M4D_* settings: only what a user has after `pip install`.
    return {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "COLUMNS": "200"}


@pytest.mark.timeout(1500)
def test_the_wheel_runs_the_demo_in_an_empty_directory(installed: Path, tmp_path: Path) -> None:
    where = run(
        [str(installed / "bin" / "python"), "-c", "import m4d.demo; print(m4d.demo.__file__)"],
        tmp_path,
        product_env(installed),
        60,
    )
    assert Path(where.stdout.strip()).is_relative_to(installed)
    done = run([str(installed / "bin" / "m4d"), "demo", "--rows", "3000"], tmp_path, product_env(installed), 400)
    assert "every application settled" in done.stdout
    assert "NOT ENFORCED" not in done.stdout
    assert "denies read of hr/employees" in done.stdout
    assert (tmp_path / ".m4d").is_dir()  # the default hub directory, relative to where the user stands


@pytest.mark.timeout(1500)
def test_the_wheel_onboards_a_member_from_a_packaged_template(installed: Path, tmp_path: Path) -> None:
    m4d = str(installed / "bin" / "m4d")
    env = product_env(installed)
    templates = run([m4d, "cluster", "templates"], tmp_path, env, 60)
    assert "plain" in templates.stdout and "zoned" in templates.stdout
    done = run([m4d, "cluster", "onboard", "eu1", "--template", "plain", "--region", "eu-de"], tmp_path, env, 120)
    assert "membercluster/eu1 created from template plain" in done.stdout
    listed = run([m4d, "cluster", "list"], tmp_path, env, 60)
    assert "eu1" in listed.stdout and "eu-de" in listed.stdout
