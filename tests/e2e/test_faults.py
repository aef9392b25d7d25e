"""Faults on the embedded default: each converges to the right status, nothing lost or duplicated."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from m4d.api import Blueprint, BlueprintReport, M4DApplication, Plotter
from m4d.api.meta import find_condition
from m4d.cluster.local import LocalCluster
from m4d.demo import services
from m4d.demo.setup import agent_service, m4d, submit_applications
from m4d.demo.world import CLUSTERS
from tests.e2e.conftest import HEARTBEAT, World
from tests.e2e.faults import endpoint, kill, module_processes, readable, service, settle

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def test_agent_restarted_mid_deploy(world: World) -> None:
    submit_applications(world.paths, world.say)
    world.wait(lambda: any(r.spec.cluster == "eu-de-1" for r in world.hub.list(BlueprintReport).items), 60, "a report")
    kill(world, "agent-eu-de-1")
    restarted = time.monotonic()
    services.start(world.paths.hub, service("agent-eu-de-1"))
    world.wait_settled()
    print(f"settled {time.monotonic() - restarted:.1f}s after the agent restarted")
    assert readable(world, "fraud-detection") == 5_000
    assert readable(world, "customer-analytics") == 5_000
    duplicates = {k.split("/run/")[-1]: n for k, n in module_processes(world).items() if n != 1}
    assert not duplicates, duplicates


def test_hub_controllers_restarted(world: World) -> None:
    submit_applications(world.paths, world.say)
    world.wait(lambda: any(p.status and p.status.committed_revision for p in world.hub.list(Plotter).items), 60)
    kill(world, "hub")
    restarted = time.monotonic()
    services.start(world.paths.hub, service("hub"))
    world.wait_settled()
    print(f"settled {time.monotonic() - restarted:.1f}s after the hub restarted")
    assert readable(world, "fraud-detection") == 5_000
    # No commit repeats its parent's tree: a retry after the crash made no duplicate commit.
    git = ["git", "--git-dir", str(world.paths.hub / "gitops.git")]
    log = subprocess.run([*git, "log", "--format=%H %T %P", "main"], capture_output=True, text=True, check=True)
    trees = {c: t for c, t, *_ in (line.split() for line in log.stdout.splitlines())}
    for line in log.stdout.splitlines():
        commit, tree, *parents = line.split()
        assert all(trees.get(p) != tree for p in parents), f"commit {commit} changes nothing"


def test_member_offline_then_back(world: World) -> None:
    submit_applications(world.paths, world.say)
    settle(world)  # every application Ready (not only served), so what the fault changes is its doing
    kill(world, "agent-eu-fr-1", signal.SIGTERM)  # the member goes quiet
    quiet = time.monotonic()

    def says_offline() -> bool:
        app = world.app("marketing-eu-fr")
        ready = find_condition(app.status.conditions, "Ready") if app.status else None
        return bool(app.status and not app.status.ready and ready and "offline there: eu-fr-1" in ready.message)

    world.wait(says_offline, 60, "the application saying its cluster is offline")
    print(f"the application names the offline cluster {time.monotonic() - quiet:.1f}s after its agent stopped")
    assert world.app("fraud-detection").status.ready  # type: ignore[union-attr]  # eu-de-1 is unaffected
    restarted = time.monotonic()
    services.start(world.paths.hub, agent_service("eu-fr-1", HEARTBEAT))
    world.wait(lambda: bool(world.app("marketing-eu-fr").status.ready), 90, "ready again")  # type: ignore[union-attr]
    print(f"Ready again {time.monotonic() - restarted:.1f}s after the agent restarted")
    assert readable(world, "marketing-eu-fr") > 0


def _git_daemon(base: Path, port: int) -> subprocess.Popen[bytes]:
    daemon = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", f"--base-path={base}", "--export-all", "--enable=receive-pack",
         "--listen=127.0.0.1", f"--port={port}", str(base)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return daemon


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_git_remote_unavailable_for_a_while(world: World) -> None:
    # The hub pushes to the GitOps repository through git daemon, which then goes away for a while.
    port = _free_port()
    daemon = _git_daemon(world.paths.hub, port)
    try:
        kill(world, "hub")
        url = f"git://127.0.0.1:{port}/gitops.git"
        services.start(world.paths.hub, services.Service("hub", ("hub", "run", "--gitops-repo", url)))
        submit_applications(world.paths, world.say)
        world.wait_settled()
        daemon.terminate()
        daemon.wait(10)
        app = yaml.safe_load((world.paths.applications / "fraud-detection.yaml").read_text())
        app["metadata"]["name"] = "fraud-later"
        new = world.paths.hub / "fraud-later.yaml"
        new.write_text(yaml.safe_dump(app))
        m4d(world.paths.hub, "apply", "-f", str(new))
        world.wait(lambda: _has_plotter(world, "fraud-later"), 60, "a plan for the new application")
        time.sleep(3)
        assert endpoint(world, "fraud-later") is None  # nothing could be committed, so nothing runs
        daemon = _git_daemon(world.paths.hub, port)
        back = time.monotonic()
        world.wait(lambda: endpoint(world, "fraud-later") is not None, 120, "the new application served")
        print(f"served {time.monotonic() - back:.1f}s after the remote came back")
        assert readable(world, "fraud-later") == 5_000
        assert readable(world, "fraud-detection") == 5_000  # what ran all along was never disturbed
    finally:
        daemon.terminate()
        daemon.wait(10)


def _has_plotter(world: World, name: str) -> bool:
    return any(p.name == name for p in world.hub.list(Plotter).items)


def test_module_crash_recovers(world: World) -> None:
    submit_applications(world.paths, world.say)
    settle(world)  # the endpoint no longer moves but for the crash
    before = endpoint(world, "fraud-detection")
    pid_file = next(p for p in (world.paths.hub / "run" / "eu-de-1").rglob("pid") if "fraud-detection" in str(p))
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    killed = time.monotonic()
    world.wait(lambda: endpoint(world, "fraud-detection") not in (None, before), 60, "a new endpoint")
    print(f"new endpoint {time.monotonic() - killed:.1f}s after the module was killed")
    assert readable(world, "fraud-detection") == 5_000


def test_applications_deleted_while_an_agent_is_down_leave_nothing_behind(world: World) -> None:
    submit_applications(world.paths, world.say)
    world.wait_settled()
    run = world.paths.hub / "run"
    assert module_processes(world) and any(run.glob("eu-de-1/*/*/*/config.yaml"))
    kill(world, "agent-eu-de-1")  # its modules run on, watched by no one
    for app in world.hub.list(M4DApplication).items:
        world.hub.delete(M4DApplication, app.name, app.metadata.namespace or "default")
    world.wait(lambda: not world.hub.list(M4DApplication).items, 90, "the applications deleted")
    services.start(world.paths.hub, service("agent-eu-de-1"))  # finalizes the Blueprints that went meanwhile
    restarted = time.monotonic()

    def blueprints() -> int:
        count = 0
        for cluster, _ in CLUSTERS:
            store = LocalCluster(world.paths.hub / "members" / f"{cluster}.db", name=cluster)
            try:
                count += len(store.list(Blueprint).items)
            finally:
                store.close()
        return count

    world.wait(lambda: blueprints() == 0, 120, "every Blueprint finalized")
    world.wait(lambda: not module_processes(world), 30, "every module process stopped")
    left = sorted(str(p.relative_to(run)) for p in run.glob("*/*/*")) if run.exists() else []
    assert not left, f"run directories left behind: {left}"
    print(f"nothing left {time.monotonic() - restarted:.1f}s after the agent restarted")
