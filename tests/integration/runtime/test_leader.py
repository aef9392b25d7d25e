"""Leader election on a real Lease: one leader at a time, takeover after a crash within the lease time,
prompt handover after a clean stop."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from m4d.cluster.kube import KubeCluster
from m4d.runtime.leader import LEASE_API, LeaderElector
from tests.integration.cluster.fixtures import admin_cluster
from tests.testenv.servers import ApiServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

LEASE, RENEW, RETRY = 3.0, 2.0, 0.3


@pytest.fixture
def hub(hub_api: ApiServer) -> Iterator[KubeCluster]:
    cluster = admin_cluster(hub_api)
    cluster.ensure_namespace("m4d-leader-test")
    yield cluster
    cluster.close()


class Candidate:
    """An elector in a thread, recording when it led."""

    def __init__(self, hub: KubeCluster, lease: str, identity: str, log: list[tuple[str, str, float]]) -> None:
        self.elector = LeaderElector(hub.manifests, "m4d-leader-test", lease, identity, LEASE, RENEW, RETRY)
        self.identity, self.log = identity, log
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _lead(self, leading: threading.Event) -> None:
        self.log.append(("start", self.identity, time.monotonic()))
        leading.wait()
        self.log.append(("end", self.identity, time.monotonic()))

    def _run(self) -> None:
        try:
            self.elector.run(self.stop, self._lead)
        except BaseException as exc:
            self.error = exc


def leaders_at_once(log: list[tuple[str, str, float]]) -> int:
    current, most = 0, 0
    for event, _, _ in sorted(log, key=lambda e: e[2]):
        current += 1 if event == "start" else -1
        most = max(most, current)
    return most


def wait_for(check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.05)


def test_one_leader_then_takeover_after_a_crash_and_after_a_release(hub: KubeCluster) -> None:
    lease = f"hub-{uuid.uuid4().hex[:6]}"
    log: list[tuple[str, str, float]] = []
    a, b = Candidate(hub, lease, "a", log), Candidate(hub, lease, "b", log)
    a.thread.start()
    wait_for(lambda: log, 10)
    b.thread.start()
    time.sleep(LEASE + 1)  # b keeps trying for longer than a lease: a renews, b never leads
    assert [who for event, who, _ in log if event == "start"] == ["a"]
    record = hub.manifests.get(LEASE_API, "Lease", lease, "m4d-leader-test")["spec"]
    assert record["holderIdentity"] == "a" and record["leaseDurationSeconds"] == 3

    # a "crashes": its renewals stop and its Lease is not released (a frozen process, a lost node).
    a.elector.try_acquire_or_renew = lambda: False  # type: ignore[method-assign]
    crashed = time.monotonic()
    wait_for(lambda: any(e == "start" and who == "b" for e, who, _ in log), LEASE * 4)
    took = next(t for e, who, t in log if e == "start" and who == "b") - crashed
    assert took < LEASE + RENEW + 2 * RETRY + 1.5, took  # within the lease time (and a's renew deadline)
    a.thread.join(LEASE * 2)
    assert a.error is not None and "could not renew" in str(a.error)  # a stopped leading and says why
    assert leaders_at_once(log) == 1  # a stopped (renew deadline) before b could start (lease time)
    spec = hub.manifests.get(LEASE_API, "Lease", lease, "m4d-leader-test")["spec"]
    assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1

    # A clean stop releases the Lease: the next candidate leads at its next attempt, not a lease later.
    c = Candidate(hub, lease, "c", log)
    c.thread.start()
    time.sleep(RETRY * 3)
    b.stop.set()
    released = time.monotonic()
    b.thread.join(10)
    assert b.error is None
    wait_for(lambda: any(e == "start" and who == "c" for e, who, _ in log), LEASE * 3)
    assert next(t for e, who, t in log if e == "start" and who == "c") - released < LEASE
    c.stop.set()
    c.thread.join(10)
    assert leaders_at_once(log) == 1
