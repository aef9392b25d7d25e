"""MemberCluster liveness: Ready while its agent's heartbeat is fresh, Offline once it is not.

The registry controller re-reads each cluster when its heartbeat would go stale, so Offline is noticed
on time without polling every cluster all the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from m4d.api.cluster import MemberCluster, MemberClusterStatus
from m4d.api.meta import Condition, set_condition, utcnow
from m4d.controllers.aggregator.status import HEARTBEAT_TIMEOUT, heartbeat_age
from m4d.runtime.controller import Controller, Outcome


def liveness(cluster: MemberCluster, now: datetime, timeout: timedelta = HEARTBEAT_TIMEOUT) -> tuple[Condition, float]:
    """The Ready condition and the seconds after which to look again."""
    age = heartbeat_age(cluster, now)
    if age is None:
        # Unknown, not False: a cluster just onboarded is usable; its agent has not started yet.
        condition = Condition(
            type="Ready", status="Unknown", reason="NoHeartbeat", message="no agent has reported from this cluster yet"
        )
        return condition, timeout.total_seconds()
    if age <= timeout:
        # No age in the message: it would change the status on every heartbeat.
        condition = Condition(type="Ready", status="True", reason="Heartbeat", message="agent heartbeat is fresh")
        return condition, max((timeout - age).total_seconds(), 0.1) + 0.1
    condition = Condition(
        type="Ready",
        status="False",
        reason="Offline",
        message=f"no heartbeat for {int(age.total_seconds())}s (limit {int(timeout.total_seconds())}s)",
    )
    return condition, timeout.total_seconds()


@dataclass
class ClusterRegistry(Controller[MemberCluster]):
    """Keeps each MemberCluster's Ready condition in line with its heartbeat."""

    timeout: timedelta = HEARTBEAT_TIMEOUT

    def __post_init__(self) -> None:
        self.kind = MemberCluster
        self.name = "cluster-registry"
        self.reconcile_on_status = True  # heartbeats are status writes by the agents

    def reconcile(self, obj: MemberCluster) -> Outcome:
        condition, again = liveness(obj, utcnow(), self.timeout)
        status = obj.status or MemberClusterStatus()
        current = next((c for c in status.conditions if c.type == "Ready"), None)
        if current is not None and current.status == condition.status and current.reason == condition.reason:
            # Same verdict: keep the stored message so an unchanged verdict writes nothing.
            condition = condition.model_copy(update={"message": current.message})
        new = status.model_copy(update={"conditions": set_condition(status.conditions, condition)})
        return Outcome(status=new, requeue_after=again)
