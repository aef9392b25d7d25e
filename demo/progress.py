"""Narrate the flow as it happens: decisions, plans, commits, syncs, modules, endpoints.

It reads the hub (and the members' reports on it) as any user could and prints each new fact once,
so the demo shows the real state of the system, not a script of what should happen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from m4d.api import BlueprintReport, M4DApplication, MemberCluster, Plotter
from m4d.api.meta import find_condition
from m4d.cluster.interface import Cluster

Print = Callable[[str, str], None]  # (stage, message)

SETTLED_REASONS = {"Denied", "NoModule", "NoCluster", "UnknownAsset", "Invalid"}


@dataclass
class Narrator:
    hub: Cluster
    say: Print
    seen: set[tuple[str, ...]] = field(default_factory=set)

    def _once(self, key: tuple[str, ...], stage: str, message: str) -> None:
        if key not in self.seen:
            self.seen.add(key)
            self.say(stage, message)

    def poll(self) -> None:
        for app in self.hub.list(M4DApplication).items:
            self._application(app)
        for plotter in self.hub.list(Plotter).items:
            self._plotter(plotter)
        for cluster in self.hub.list(MemberCluster).items:
            rev = cluster.status.applied_revision if cluster.status else None
            if rev:
                self._once(("sync", cluster.name, rev), "sync", f"cluster {cluster.name} applied revision {rev[:10]}")
        for report in self.hub.list(BlueprintReport).items:
            for name, module in sorted(report.spec.modules.items()):
                where = f"{report.spec.cluster}/{name} for {report.spec.application.name}"
                if module.phase == "Ready" and module.endpoint is not None:
                    self._once(
                        ("module", where, module.endpoint.url), "module", f"{where} ready at {module.endpoint.url}"
                    )
                elif module.phase == "Completed":
                    self._once(("module", where, "done"), "module", f"{where} completed")
                elif module.phase == "Failed":
                    self._once(("failed", where, module.message or ""), "module", f"{where} failed: {module.message}")

    def _application(self, app: M4DApplication) -> None:
        if app.status is None:
            return
        for asset, state in sorted(app.status.asset_states.items()):
            who = f"{app.name} {asset}"
            for d in state.decisions:
                actions = ", ".join(
                    f"{a.name}({', '.join(a.columns) or a.options.get('predicate', '')})" for a in d.actions
                )
                verdict = "deny" if d.denied else (actions or "allow, no actions")
                by = f" by {d.policy}" if d.policy else ""
                self._once(
                    ("decision", who, d.flow, d.geography or ""),
                    "decision",
                    f"{who}: {d.flow} in {d.geography}: {verdict}{by}",
                )
            ready = find_condition(state.conditions, "Ready")
            if ready is not None and ready.reason in SETTLED_REASONS:
                self._once(
                    ("outcome", who, ready.reason),
                    "denied" if ready.reason == "Denied" else "error",
                    f"{who}: {ready.message}",
                )
            if state.endpoint is not None:
                self._once(("endpoint", who, state.endpoint.url), "endpoint", f"{who} served at {state.endpoint.url}")

    def _plotter(self, plotter: Plotter) -> None:
        for flow in plotter.spec.flows:
            steps = " then ".join(
                f"{s.capability} by {plotter.spec.modules[s.module].module} on {s.cluster}"
                for s in flow.steps
                if s.module in plotter.spec.modules
            )
            self._once(
                ("plan", plotter.key, flow.name, steps),
                "plan",
                f"{plotter.spec.application.name} {flow.asset_id}: {steps}",
            )
        status = plotter.status
        if status is not None and status.committed_revision:
            rev = status.committed_revision
            clusters = ", ".join(sorted(status.clusters))
            self._once(
                ("commit", plotter.key, rev),
                "commit",
                f"{rev[:10]} Blueprints of {plotter.spec.application.name} for {clusters}",
            )


def settled(hub: Cluster) -> tuple[bool, list[str]]:
    """Every asset of every application served (it has an endpoint) or stopped by something waiting will
    not fix (a denial, no module, an unknown asset); else what each is still waiting for."""
    waiting: list[str] = []
    for app in hub.list(M4DApplication).items:
        status = app.status
        if status is None or status.observed_generation != app.metadata.generation:
            waiting.append(f"{app.name}: not reconciled yet")
            continue
        for item in app.spec.data:
            state = status.asset_states.get(item.data_set_id)
            ready = find_condition(state.conditions, "Ready") if state else None
            if state is not None and (state.endpoint is not None or (ready and ready.reason in SETTLED_REASONS)):
                continue
            waiting.append(f"{app.name} {item.data_set_id}: {ready.message if ready else 'no status yet'}")
    return not waiting, waiting


def follow(hub: Cluster, say: Print, timeout: float, interval: float = 0.2) -> tuple[bool, list[str]]:
    narrator = Narrator(hub, say)
    deadline = time.monotonic() + timeout
    done, waiting = False, list[str]()
    while time.monotonic() < deadline:
        narrator.poll()
        done, waiting = settled(hub)
        if done:
            narrator.poll()
            return True, []
        time.sleep(interval)
    return done, waiting
