"""MemberCluster liveness: Ready while its agent's heartbeat is fresh; Offline, then Lost, once it is not.

    Ready/Heartbeat ──no heartbeat for `timeout`──▶ False/Offline ──and for `grace` more──▶ False/Lost

Offline means "place no new work there": what already runs there stays (its modules keep serving; an
agent restart or a short freeze changes nothing). Only Lost moves a member's placements elsewhere.

A stall on the hub's side never counts against a member: before a verdict gets worse, the registry
proves the store takes writes now (a write that changes nothing, timed, on the resourceVersion it read).
If that write waited, or the store refused it for now (busy, unreachable), the store was stalled, not the
member (its heartbeats could not land), and every member's silence is counted from the end of the stall;
if the member changed meanwhile, its newer heartbeat is read first. One probe at a time: a verdict asked
while another worker's probe is stuck waits for that probe's answer, never proving the store healthy with
a write of its own made just after the stall (when a heartbeat written before it lands, stale, first).
The hub's own downtime does not count either: silence is counted from start.

The registry re-reads each cluster when its verdict would change, so nothing polls all the time.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from m4d.api.cluster import MemberCluster, MemberClusterStatus
from m4d.api.meta import Condition, find_condition, set_condition, utcnow
from m4d.controllers.aggregator.status import HEARTBEAT_TIMEOUT, OFFLINE_GRACE, heartbeat_age
from m4d.errors import ConflictError, TemporaryError
from m4d.runtime.controller import Controller, Outcome

log = logging.getLogger("m4d.controllers.registry")

OFFLINE = "Offline"
LOST = "Lost"
# A write that should take milliseconds and took this long: the store stalled.
STALL = 1.0
_RANK = {"Heartbeat": 0, "NoHeartbeat": 0, OFFLINE: 1, LOST: 2}


def liveness(
    cluster: MemberCluster,
    now: datetime,
    timeout: timedelta = HEARTBEAT_TIMEOUT,
    grace: timedelta = OFFLINE_GRACE,
    counting_since: datetime | None = None,
) -> tuple[Condition, float]:
    """The Ready condition and the seconds after which to look again. Silence before `counting_since`
    (the hub's start, the end of a stall on its side) is not counted."""
    age = heartbeat_age(cluster, now)
    if age is None:
        # Unknown, not False: a cluster just onboarded is usable; its agent has not started yet.
        condition = Condition(
            type="Ready", status="Unknown", reason="NoHeartbeat", message="no agent has reported from this cluster yet"
        )
        return condition, timeout.total_seconds()
    if counting_since is not None:
        age = min(age, max(now - counting_since, timedelta(0)))
    limit = int(timeout.total_seconds())
    if age <= timeout:
        # No age in the message: it would change the status on every heartbeat.
        condition = Condition(type="Ready", status="True", reason="Heartbeat", message="agent heartbeat is fresh")
        return condition, max((timeout - age).total_seconds(), 0.1) + 0.1
    silent = int(age.total_seconds())
    if age <= timeout + grace:
        condition = Condition(
            type="Ready",
            status="False",
            reason=OFFLINE,
            message=f"no heartbeat for {silent}s (limit {limit}s): no new work goes there; what runs there stays "
            f"unless it is silent for {int(grace.total_seconds())}s more",
        )
        return condition, max((timeout + grace - age).total_seconds(), 0.1) + 0.1
    condition = Condition(
        type="Ready",
        status="False",
        reason=LOST,
        message=f"no heartbeat for {silent}s (limit {limit}s, grace {int(grace.total_seconds())}s): "
        "what ran there is placed elsewhere",
    )
    return condition, timeout.total_seconds()


def cluster_lost(cluster: MemberCluster) -> bool:
    """Lost: silent beyond the grace period, so its placements move."""
    ready = find_condition(cluster.status.conditions, "Ready") if cluster.status else None
    return ready is not None and ready.status == "False" and ready.reason == LOST


@dataclass
class ClusterRegistry(Controller[MemberCluster]):
    """Keeps each MemberCluster's Ready condition in line with its heartbeat."""

    timeout: timedelta = HEARTBEAT_TIMEOUT
    grace: timedelta = OFFLINE_GRACE
    _counting_since: datetime = field(init=False, default_factory=utcnow)
    _probe: threading.Lock = field(init=False, default_factory=threading.Lock)
    _stall_seen: float = field(init=False, default=float("-inf"))  # monotonic end of the last stall found

    def __post_init__(self) -> None:
        self.kind = MemberCluster
        self.name = "cluster-registry"
        self.reconcile_on_status = True  # heartbeats are status writes by the agents

    def wakes_on_status(self, old: MemberCluster, new: MemberCluster) -> bool:
        """A heartbeat, or a Ready condition someone else wrote; not what the sync applied (appliedRevision
        moves on every commit, on every member) or the agent's version."""
        before, after = old.status or MemberClusterStatus(), new.status or MemberClusterStatus()
        ready = find_condition(before.conditions, "Ready"), find_condition(after.conditions, "Ready")
        return before.last_heartbeat != after.last_heartbeat or ready[0] != ready[1]

    def reconcile(self, obj: MemberCluster) -> Outcome:
        condition, again = liveness(obj, utcnow(), self.timeout, self.grace, self._counting_since)
        status = obj.status or MemberClusterStatus()
        current = find_condition(status.conditions, "Ready")
        if current is not None and current.status == condition.status and current.reason == condition.reason:
            # Same verdict: keep the stored message so an unchanged verdict writes nothing.
            condition = condition.model_copy(update={"message": current.message})
        elif _RANK.get(condition.reason, 0) > _RANK.get(current.reason if current else "", 0) and self._stalled(obj):
            return Outcome(requeue_after=self.timeout.total_seconds())
        new = status.model_copy(update={"conditions": set_condition(status.conditions, condition)})
        return Outcome(status=new, requeue_after=again)

    def _stalled(self, obj: MemberCluster) -> bool:
        """Write what was read, unchanged (nothing is stored, no event): a conflict means a newer heartbeat
        (the runtime reads it and comes back); a slow or refused write means the store, not the member, was
        stuck."""
        asked = time.monotonic()
        with self._probe:
            if self._stall_seen >= asked:  # the probe this one waited for found the store stuck
                return True
            started = time.monotonic()
            try:
                self.cluster.update_status(obj)
            except ConflictError:
                # A newer heartbeat, maybe one written before a stall that landed as it ended: the stall
                # still counts (its end is now), then the runtime reads the newer object and comes back.
                if (waited := time.monotonic() - started) >= STALL:
                    self._stall(obj.name, f"took {waited:.1f}s to answer a write")
                raise
            except TemporaryError as exc:
                self._stall(obj.name, f"refused the write ({exc})")
                return True
            waited = time.monotonic() - started
            if waited < STALL:
                return False
            self._stall(obj.name, f"took {waited:.1f}s to take a write")
            return True

    def _stall(self, name: str, what: str) -> None:
        self._stall_seen = time.monotonic()
        self._counting_since = utcnow()
        log.warning("the hub store %s: member silence is counted from now, not held against %s", what, name)
