"""Leader election on a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does it.

Several replicas of the hub run; only the holder of the Lease reconciles. A candidate takes the Lease
when it is free or when its record has not changed for `lease_duration` by this process's own clock
(never trusting another machine's clock); the leader renews it every `retry_period`, and if it cannot
renew for `renew_deadline` (shorter than the lease, so it stops before anyone else may start) it stops
leading and the process exits, to start again as a candidate. Every write is conditional on the Lease's
resourceVersion, so two candidates never both win. On a clean stop the leader releases the Lease (no
holder, as client-go's ReleaseOnCancel): the next replica takes over at its next attempt instead of after
the lease time. The Lease object may exist beforehand with an empty spec (the hub's Helm chart makes it,
so that uninstalling removes it).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from m4d.cluster.kube_manifests import Manifests
from m4d.errors import AlreadyExistsError, ConflictError, M4DError, NotFoundError

log = logging.getLogger("m4d.leader")

LEASE_API = "coordination.k8s.io/v1"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LostLeadership(M4DError):
    """The Lease could not be renewed in time: this replica must stop reconciling (and exit)."""


@dataclass
class LeaderElector:
    manifests: Manifests
    namespace: str
    name: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    _record: Any = field(default=None, init=False, repr=False)  # the Lease spec last observed
    _observed_at: float = field(default=0.0, init=False, repr=False)  # when it last changed (monotonic)

    def __post_init__(self) -> None:
        if not self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError("leader election needs retry_period < renew_deadline < lease_duration")

    def _spec(self, previous: dict[str, Any] | None) -> dict[str, Any]:
        now = _now()
        held = previous is not None and previous.get("holderIdentity") == self.identity
        transitions = int((previous or {}).get("leaseTransitions") or 0)
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": round(self.lease_duration),
            "acquireTime": (previous or {}).get("acquireTime") if held else now,
            "renewTime": now,
            "leaseTransitions": transitions if held or previous is None else transitions + 1,
        }

    def try_acquire_or_renew(self) -> bool:
        """One attempt; True when this replica holds the Lease afterwards."""
        try:
            lease = self.manifests.get(LEASE_API, "Lease", self.name, self.namespace)
        except NotFoundError:
            spec = self._spec(None)
            meta = {"name": self.name, "namespace": self.namespace}
            try:
                self.manifests.create({"apiVersion": LEASE_API, "kind": "Lease", "metadata": meta, "spec": spec})
            except AlreadyExistsError:
                return False
            self._observe(spec)
            return True
        spec = lease.get("spec") or {}
        if spec != self._record:
            self._observe(spec)
        holder = spec.get("holderIdentity")
        if holder and holder != self.identity:
            duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
            if time.monotonic() < self._observed_at + duration:
                return False  # someone else holds it, and their record moved recently
        lease["spec"] = self._spec(spec)
        try:
            updated = self.manifests.replace(lease)
        except ConflictError:
            return False  # another candidate wrote first
        self._observe(updated.get("spec") or {})
        return True

    def _observe(self, spec: dict[str, Any]) -> None:
        self._record, self._observed_at = spec, time.monotonic()

    def release(self) -> None:
        """Give the Lease up (a clean stop): the next candidate takes it at its next attempt."""
        try:
            lease = self.manifests.get(LEASE_API, "Lease", self.name, self.namespace)
            if (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            lease["spec"] = {**lease["spec"], "holderIdentity": None, "leaseDurationSeconds": 1, "renewTime": _now()}
            self.manifests.replace(lease)
        except (NotFoundError, ConflictError):
            pass  # gone, or taken meanwhile: nothing of ours to give up
        except M4DError as exc:
            log.warning("releasing lease %s/%s: %s", self.namespace, self.name, exc)

    def _wait(self, stop: threading.Event) -> bool:
        """Sleep one retry period (with jitter, as client-go); True when stopped meanwhile."""
        return stop.wait(self.retry_period * (1 + random.random() * 0.2))  # noqa: S311 - jitter, not secrecy

    def acquire(self, stop: threading.Event) -> bool:
        """Block until this replica leads (True) or `stop` is set (False)."""
        while not stop.is_set():
            try:
                if self.try_acquire_or_renew():
                    log.info("%s leads (lease %s/%s)", self.identity, self.namespace, self.name)
                    return True
            except M4DError as exc:
                log.warning("lease %s/%s: %s", self.namespace, self.name, exc)
            self._wait(stop)
        return False

    def run(self, stop: threading.Event, lead: Callable[[threading.Event], None]) -> None:
        """Acquire, then run `lead(leading)` while renewing; `leading` is set when leadership ends.

        Returns after a clean stop (the Lease released); raises LostLeadership when renewals failed for
        `renew_deadline` — `lead` has been told to stop by then.
        """
        if not self.acquire(stop):
            return
        leading = threading.Event()
        worker = threading.Thread(target=lead, args=(leading,), name="leader", daemon=True)
        worker.start()
        renewed = time.monotonic()
        lost = False
        while not stop.is_set() and worker.is_alive():
            if self._wait(stop):
                break
            try:
                if self.try_acquire_or_renew():
                    renewed = time.monotonic()
                    continue
            except M4DError as exc:
                log.warning("renewing lease %s/%s: %s", self.namespace, self.name, exc)
            if time.monotonic() - renewed > self.renew_deadline:
                lost = True
                break
        leading.set()
        worker.join(self.lease_duration)
        if lost:
            raise LostLeadership(f"{self.identity} could not renew lease {self.namespace}/{self.name} in time")
        self.release()
