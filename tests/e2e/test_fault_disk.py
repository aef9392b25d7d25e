"""A full disk under the GitOps repository: pushes wait (temporarily refused), then land once space returns."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
import yaml

from m4d.api import Plotter
from m4d.demo.setup import m4d, submit_applications
from tests.e2e.conftest import World
from tests.e2e.faults import endpoint, kill, module_processes, readable, start_with
from tests.testenv.small_disk import SmallDisk

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def _hub_log(world: World) -> str:
    return (world.paths.hub / "logs" / "hub.log").read_text(errors="replace")


def test_full_disk_under_the_gitops_repository(world: World) -> None:
    submit_applications(world.paths, world.say)
    world.wait_settled()
    repo = world.paths.hub / "gitops.git"
    # The repository moves onto a small tmpfs; the hub (which pushes) and the sync (which reads) run where
    # they see it.
    kill(world, "hub", signal.SIGTERM)
    kill(world, "sync", signal.SIGTERM)
    with SmallDisk(repo, "16m") as disk:
        start_with(world, "hub", disk.command())
        start_with(world, "sync", disk.command())
        world.wait_settled()
        assert disk.fill() < 64 * 1024
        app = yaml.safe_load((world.paths.applications / "fraud-detection.yaml").read_text())
        app["metadata"]["name"] = "fraud-later"
        new = world.paths.hub / "fraud-later.yaml"
        new.write_text(yaml.safe_dump(app))
        m4d(world.paths.hub, "apply", "-f", str(new))
        world.wait(lambda: any(p.name == "fraud-later" for p in world.hub.list(Plotter).items), 60, "a plan")
        world.wait(lambda: "RemoteStorageFull" in _hub_log(world) or "out of space" in _hub_log(world), 60,
                   "the hub's push refused for want of space")  # fmt: skip
        refused = _hub_log(world).count("out of space")
        world.wait(lambda: _hub_log(world).count("out of space") > refused, 60, "the push retried while full")
        assert "PushDenied" not in _hub_log(world)
        assert endpoint(world, "fraud-later") is None  # nothing committed, nothing runs for it
        assert readable(world, "fraud-detection") == 5_000  # what ran is not disturbed
        freed = time.monotonic()
        disk.free()
        world.wait(lambda: endpoint(world, "fraud-later") is not None, 90, "the new application served")
        print(f"served {time.monotonic() - freed:.1f}s after space returned")
        assert readable(world, "fraud-later") == 5_000
        fsck = subprocess.run(disk.command("git", "--git-dir", str(repo), "fsck"), check=False, capture_output=True)
        assert fsck.returncode == 0, fsck.stderr.decode()
        leftovers = list(disk.inside("gitops.git/objects").glob("tmp_objdir*"))
        assert not leftovers, f"refused pushes left {leftovers}"
        world.wait_settled()
        duplicates = {k: n for k, n in module_processes(world).items() if n != 1}
        assert not duplicates, duplicates
