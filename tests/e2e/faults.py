"""What the fault tests look at and do: reads over Flight, endpoints, services, module processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from m4d.credentials.app_tokens import read_token
from m4d.credentials.local import SecretsFile
from m4d.demo import services
from m4d.demo.reader import read_asset
from m4d.demo.setup import service_list
from tests.e2e.conftest import HEARTBEAT, World

TX = "finance/transactions"


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
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
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
