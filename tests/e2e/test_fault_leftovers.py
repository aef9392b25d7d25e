"""Deleting applications leaves nothing behind: no storage copy (one may hold personal data in clear), no
module process, no module working directory, no Blueprint, report or access token."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from m4d.api import BlueprintReport, M4DApplication, Plotter
from m4d.credentials.app_tokens import token_ref
from m4d.credentials.local import SecretsFile
from m4d.demo.setup import m4d, submit_applications
from m4d.errors import NotFoundError
from tests.e2e.conftest import World
from tests.e2e.faults import assert_converged, module_processes, settle

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

GONE_WITHIN = 60.0


def _copies(world: World) -> list[Path]:
    storage = world.paths.hub / "storage"
    return sorted(p for p in storage.rglob("*") if p.is_file()) if storage.exists() else []


def _instances(world: World) -> list[Path]:
    run = world.paths.hub / "run"
    return sorted(p for p in run.glob("*/*/*/*") if p.is_dir()) if run.exists() else []


def _has_token(world: World, name: str) -> bool:
    try:
        SecretsFile(world.paths.hub / "secrets.yaml").resolve(token_ref("default", name))
    except NotFoundError:
        return False
    return True


def _left(world: World) -> list[str]:
    """Whatever of the applications is still there."""
    hub = world.hub
    left = [f"application {a.name}" for a in hub.list(M4DApplication).items]
    left += [f"plotter {p.name}" for p in hub.list(Plotter).items]
    left += [f"report {r.name}" for r in hub.list(BlueprintReport).items]
    left += [f"module process {c}" for c in module_processes(world)]
    left += [f"instance directory {p}" for p in _instances(world)]
    left += [f"copy {p}" for p in _copies(world)]
    return left


def test_deleted_applications_leave_nothing_behind(world: World) -> None:
    submit_applications(world.paths, world.say)
    settle(world)
    assert_converged(world)
    names = [a.name for a in world.hub.list(M4DApplication).items]
    assert _copies(world), "no application made a copy: the test would prove nothing about copies"
    assert module_processes(world) and _instances(world)
    deleted = time.monotonic()
    for name in names:
        m4d(world.paths.hub, "delete", "m4dapplication", name)
    left: list[str] = []

    def gone() -> bool:
        left[:] = _left(world)
        return not left

    try:
        world.wait(gone, GONE_WITHIN, "everything of the applications gone")
    except AssertionError as exc:
        raise AssertionError(f"left behind: {left}") from exc
    took = time.monotonic() - deleted
    print(f"{len(names)} applications deleted, nothing left after {took:.1f}s")
    assert not any(_has_token(world, name) for name in names)
    assert_converged(world)
