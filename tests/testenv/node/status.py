"""The Pod status a kubelet writes, computed from its containers (pure: no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tests.testenv.node.container import Container, rfc3339


def phase(containers: Sequence[Container], restart_policy: str, initialized: bool, init_failed: bool) -> str:
    """The pod phase by the kubelet's rules (getPhase)."""
    if init_failed:
        return "Failed"
    if not initialized:
        return "Pending"
    running = stopped = succeeded = waiting = 0
    for c in containers:
        if "running" in c.state:
            running += 1
        elif "terminated" in c.state:
            stopped += 1
            succeeded += c.state["terminated"]["exitCode"] == 0
        elif c.last_state.get("terminated"):
            stopped += 1  # waiting to restart
            succeeded += c.last_state["terminated"]["exitCode"] == 0
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if restart_policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if restart_policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


class Conditions:
    """Pod conditions keeping their lastTransitionTime while their status holds."""

    def __init__(self) -> None:
        self._since: dict[str, tuple[str, str]] = {}

    def build(self, wanted: Sequence[tuple[str, bool, str | None, str | None]]) -> list[dict[str, Any]]:
        out = []
        for kind, ok, reason, message in wanted:
            status = "True" if ok else "False"
            previous = self._since.get(kind)
            if previous is None or previous[0] != status:
                self._since[kind] = (status, rfc3339())
            condition: dict[str, Any] = {
                "type": kind,
                "status": status,
                "lastProbeTime": None,
                "lastTransitionTime": self._since[kind][1],
            }
            if reason:
                condition["reason"] = reason
            if message:
                condition["message"] = message
            out.append(condition)
        return out


def conditions(
    tracker: Conditions, containers: Sequence[Container], sandbox: bool, initialized: bool, terminal: bool
) -> list[dict[str, Any]]:
    unready = [c.name for c in containers if not c.ready]
    ready = initialized and not unready and not terminal
    if terminal:
        why: tuple[str | None, str | None] = ("PodCompleted", None)
    elif unready:
        why = ("ContainersNotReady", f"containers with unready status: [{' '.join(unready)}]")
    else:
        why = (None, None)
    return tracker.build(
        [
            ("PodReadyToStartContainers", sandbox, None, None),
            ("Initialized", initialized, None if initialized else "ContainersNotInitialized", None),
            ("Ready", ready, *why),
            ("ContainersReady", ready, *why),
            ("PodScheduled", True, None, None),
        ]
    )
