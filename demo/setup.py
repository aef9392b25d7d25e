"""Bring the demo's world up: prepare the hub directory, onboard members, register modules, start services."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from m4d.demo import services, world
from m4d.errors import PermanentError

Say = Callable[[str, str], None]


def m4d(hub: Path, *args: str) -> str:
    """Run an `m4d` command on the hub directory, as a user would."""
    done = subprocess.run(
        [sys.executable, "-m", "m4d.cli", "--hub", str(hub), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise PermanentError(f"m4d {' '.join(args)} failed:\n{done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def agent_service(cluster: str, heartbeat: float = 2.0) -> services.Service:
    return services.Service(f"agent-{cluster}", ("agent", "--cluster", cluster, "--heartbeat", str(heartbeat)))


def service_list(heartbeat: float = 2.0) -> list[services.Service]:
    return [
        services.Service("hub", ("hub", "run")),
        services.Service("sync", ("sync",)),
        *(agent_service(name, heartbeat) for name, _ in world.CLUSTERS),
    ]


def bring_up(
    hub: Path, rows: int, say: Say, heartbeat: float = 2.0, hub_settings: dict[str, object] | None = None
) -> world.DemoPaths:
    """A fresh hub directory with data, members, modules and storage, and every service started.

    `hub_settings` go into the hub's hub.yaml (e.g. a short heartbeatTimeout for fault tests).
    """
    say("step", f"preparing {hub}: {rows:,} sample transactions, catalog, policies, secrets")
    paths = world.prepare(hub, rows)
    if hub_settings:
        (paths.hub / "hub.yaml").write_text(yaml.safe_dump(hub_settings))
    for name, region in world.CLUSTERS:
        m4d(paths.hub, "cluster", "onboard", name, "--template", "plain", "--region", region)
        say("step", f"onboarded member cluster {name} (region {region})")
    m4d(paths.hub, "apply", "-f", str(paths.descriptors), "-f", str(paths.resources))
    say("step", "registered modules arrow-flight and implicit-copy, storage account " + world.STORAGE[0])
    started = service_list(heartbeat)
    for service in started:
        services.start(paths.hub, service)
    say("step", "started " + ", ".join(s.name for s in started) + f" (logs in {paths.hub / 'logs'})")
    return paths


def submit_applications(paths: world.DemoPaths, say: Say) -> None:
    m4d(paths.hub, "apply", "-f", str(paths.applications))
    names = ", ".join(sorted(p.stem for p in paths.applications.glob("*.yaml")))
    say("step", f"submitted the sample applications: {names}")
