"""What the fault tests look at and do: reads over Flight, endpoints, services, module processes, and
`assert_converged`, the state every fault must end in."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from m4d.api import Blueprint, M4DApplication, MemberCluster
from m4d.api.meta import find_condition
from m4d.cluster.local import LocalCluster
from m4d.credentials.app_tokens import read_token
from m4d.credentials.local import SecretsFile
from m4d.demo import services
from m4d.demo.progress import SETTLED_REASONS, settled
from m4d.demo.reader import read_asset
from m4d.demo.setup import service_list
from m4d.demo.world import CLUSTERS
from tests.e2e.conftest import HEARTBEAT, World

TX = "finance/transactions"

# What the application statuses, the Git head and the module processes are: equal snapshots mean nothing moved.
Snapshot = tuple[str, dict[str, tuple[bool, dict[str, str]]], dict[str, str]]


def readable(world: World, app: str, asset: str = TX) -> int:
    state = world.app(app).status.asset_states[asset]  # type: ignore[union-attr]
    assert state.endpoint is not None
    token = read_token(SecretsFile(world.paths.hub / "secrets.yaml"), "default", app)
    return read_asset(state.endpoint, token, asset).table.num_rows


def endpoint(world: World, app: str, asset: str = TX) -> str | None:
    status = world.app(app).status
    state = status.asset_states.get(asset) if status else None
    return state.endpoint.url if state and state.endpoint else None


def service(name: str) -> services.Service:
    return next(s for s in service_list(HEARTBEAT) if s.name == name)


def kill(world: World, name: str, sig: int = signal.SIGKILL) -> None:
    """Stop one service process (not the modules it started, which run in their own sessions)."""
    pid = services.running(world.paths.hub)[name]
    os.kill(pid, sig)
    world.wait(lambda: name not in services.running(world.paths.hub), 20, f"{name} stopped")


def module_processes(world: World) -> dict[str, int]:
    """Live module processes per instance directory (more than one would be a duplicate)."""
    counts: dict[str, int] = {}
    run = str(world.paths.hub / "run")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or not services.alive(int(proc.name)):
            continue
        try:
            # A module forked by the agent's fork server shows its command line as one title: split on spaces.
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace").replace("\0", " ").split()
        except OSError:
            continue
        config = next((a for a in cmdline if a.startswith(run) and a.endswith("config.yaml")), None)
        if config is not None and "module" in cmdline:
            counts[config] = counts.get(config, 0) + 1
    return counts


def start_with(world: World, name: str, prefix: list[str]) -> int:
    """Start a service as `services.start` would, its command run through `prefix` (e.g. nsenter)."""
    svc = service(name)
    hub = world.paths.hub
    command = [*prefix, sys.executable, "-m", "m4d.cli", "--hub", str(hub), *svc.args]
    with (hub / "logs" / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    (hub / "pids" / f"{name}.pid").write_text(str(process.pid))
    services._CHILDREN[process.pid] = process  # reaped and stopped with the others
    return process.pid


def _instances(world: World) -> dict[Path, str]:
    """{instance directory: application name} of every module instance the members' Blueprints hold."""
    out: dict[Path, str] = {}
    for cluster, _ in CLUSTERS:
        store = LocalCluster(world.paths.hub / "members" / f"{cluster}.db", name=cluster)
        try:
            for bp in store.list(Blueprint).items:
                for module in bp.spec.modules:
                    where = world.paths.hub / "run" / cluster / (bp.metadata.namespace or "default") / bp.name
                    out[where / module.name] = bp.spec.application.name
        finally:
            store.close()
    return out


def assert_converged(world: World, disk: bool = True) -> None:
    """The state every fault must end in: each application Ready or rightly denied; each endpoint served by a
    live module of that application; one process per module instance and none without a Blueprint; and
    (with `disk`) no instance directory left over from what is gone."""
    ok, pending = settled(world.hub)
    assert ok, f"not settled: {pending}"
    instances = _instances(world)
    processes = module_processes(world)
    duplicates = {k: n for k, n in processes.items() if n != 1}
    assert not duplicates, f"module instances running twice: {duplicates}"
    orphans = sorted(k for k in processes if Path(k).parent not in instances)
    assert not orphans, f"module processes without a Blueprint: {orphans}"
    for app in world.hub.list(M4DApplication).items:
        for asset, state in sorted((app.status.asset_states if app.status else {}).items()):
            if state.endpoint is None:
                continue
            serving = [
                where
                for where, owner in instances.items()
                if owner == app.name and _serves(where, state.endpoint.port) and str(where / "config.yaml") in processes
            ]
            assert serving, f"{app.name} {asset}: no live module of the application serves {state.endpoint.url}"
    if disk:
        run = world.paths.hub / "run"
        present = {p.parent for p in run.glob("*/*/*/*/config.yaml")} if run.exists() else set()
        leftovers = sorted(str(p) for p in present - set(instances))
        assert not leftovers, f"instance directories left behind: {leftovers}"


def _serves(where: Path, port: int) -> bool:
    try:
        return int(json.loads((where / "ready.json").read_text())["port"]) == port
    except (OSError, ValueError, KeyError):
        return False


def head(world: World) -> str:
    git = ["git", "--git-dir", str(world.paths.hub / "gitops.git"), "rev-parse", "main"]
    return subprocess.run(git, capture_output=True, text=True, check=True).stdout.strip()


def snapshot(world: World) -> Snapshot:
    """The Git head, each application's readiness and endpoints, each module instance's process."""
    apps = {}
    for app in world.hub.list(M4DApplication).items:
        states = app.status.asset_states if app.status else {}
        endpoints = {k: s.endpoint.url for k, s in states.items() if s.endpoint is not None}
        apps[app.name] = (bool(app.status and app.status.ready), endpoints)
    pids = {str(p.parent): p.read_text() for p in (world.paths.hub / "run").glob("*/*/*/*/pid")}
    return head(world), apps, pids


def unfinished(world: World) -> list[str]:
    """What still moves towards the final state: an application neither Ready nor stopped for good (every
    asset served is not enough: the Plotter may still deploy elsewhere), a member not Ready or not on the
    Git head."""
    _, waiting = settled(world.hub)
    for app in world.hub.list(M4DApplication).items:
        ready = find_condition(app.status.conditions, "Ready") if app.status else None
        if not (app.status and app.status.ready) and not (ready and ready.reason in SETTLED_REASONS):
            waiting.append(f"{app.name}: {ready.message if ready else 'no status yet'}")
    revision = head(world)
    for member in world.hub.list(MemberCluster).items:
        status = member.status
        ready = find_condition(status.conditions, "Ready") if status else None
        if not (ready and ready.status == "True"):
            waiting.append(f"member {member.name}: {ready.reason if ready else 'no status yet'}")
        if status is None or status.applied_revision != revision:
            waiting.append(f"member {member.name}: not on {revision[:10]} yet")
    return waiting


def settle(world: World, timeout: float = 180.0, quiet: float = 3.0) -> Snapshot:
    """Wait for the final state (every application Ready or rightly denied, every member on the Git head),
    then for nothing to move for `quiet` seconds (endpoints, processes, head), and return that snapshot."""
    deadline = time.monotonic() + timeout
    last: Snapshot | None = None
    since = time.monotonic()
    while True:
        waiting = unfinished(world)
        current = None if waiting else snapshot(world)
        if current is None or current != last:
            last, since = current, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return current
        if time.monotonic() > deadline:
            world.wait(lambda: False, 0, f"a final, quiet state (still waiting for: {waiting or 'quiet'})")
        time.sleep(0.1)
