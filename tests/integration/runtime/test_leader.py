"""Leader election on a real Lease: one leader at a time, takeover after a crash within the lease time,
prompt handover after a clean stop.

The test waits on what the candidates did (their attempts, their leading), each wait bounded by a
deadline, never on the wall clock alone, so a loaded machine makes it slower, not flaky. The timings are
wide enough that one renewal delayed by a busy machine (well under the lease) changes nothing.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from m4d.cluster.kube import KubeCluster
from m4d.runtime.leader import LEASE_API, LeaderElector
from tests.integration.cluster.fixtures import admin_cluster
from tests.testenv.servers import ApiServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

NAMESPACE = "m4d-leader-test"
LEASE, RENEW, RETRY = 6.0, 4.0, 0.5
Log = list[tuple[str, str, float]]


@pytest.fixture
def hub(hub_api: ApiServer) -> Iterator[KubeCluster]:
    cluster = admin_cluster(hub_api)
    cluster.ensure_namespace(NAMESPACE)
    yield cluster
    cluster.close()


class Recorded(LeaderElector):
    """An elector that records when it tried, and can freeze (as a hung process or a lost node does)."""

    attempts: list[float]
    frozen: bool

    def try_acquire_or_renew(self) -> bool:
        self.attempts.append(time.monotonic())
        return False if self.frozen else super().try_acquire_or_renew()


class Candidate:
    """An elector in a thread, recording when it led."""

    def __init__(self, hub: KubeCluster, lease: str, identity: str, log: Log) -> None:
        self.elector = Recorded(hub.manifests, NAMESPACE, lease, identity, LEASE, RENEW, RETRY)
        self.elector.attempts, self.elector.frozen = [], False
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

    def started(self) -> float | None:
        return next((t for event, who, t in self.log if event == "start" and who == self.identity), None)

    def tried_since(self, since: float) -> int:
        return sum(1 for t in self.elector.attempts if t >= since)


def leaders_at_once(log: Log) -> int:
    current, most = 0, 0
    for event, _, _ in sorted(log, key=lambda e: e[2]):
        current += 1 if event == "start" else -1
        most = max(most, current)
    return most


def wait_for(check: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g}s"
        time.sleep(0.05)


def test_one_leader_then_takeover_after_a_crash_and_after_a_release(hub: KubeCluster) -> None:
    lease = f"hub-{uuid.uuid4().hex[:6]}"
    log: Log = []
    a, b = Candidate(hub, lease, "a", log), Candidate(hub, lease, "b", log)
    a.thread.start()
    wait_for(a.started, 30, "a leads")
    b.thread.start()
    # b keeps trying for longer than a lease (several attempts, spanning more than LEASE): a renews, b never
    # leads.
    wait_for(lambda: b.elector.attempts, 30, "b tries")
    first = b.elector.attempts[0]
    wait_for(lambda: b.elector.attempts[-1] - first > LEASE + RETRY and len(b.elector.attempts) >= 4, 60, "b retries")
    assert [who for event, who, _ in log if event == "start"] == ["a"]
    record = hub.manifests.get(LEASE_API, "Lease", lease, NAMESPACE)["spec"]
    assert record["holderIdentity"] == "a" and record["leaseDurationSeconds"] == LEASE

    # a "crashes": its renewals stop and its Lease is not released (a frozen process, a lost node).
    a.elector.frozen = True
    crashed = time.monotonic()
    wait_for(b.started, LEASE * 4, "b takes over")
    took = b.started() - crashed  # type: ignore[operator]
    # Within the lease time: b waits one lease after the last renewal it saw, then takes it at its next try
    # (a's renew deadline and two retries of slack; that b did not start early is leaders_at_once below).
    assert took < LEASE + RENEW + 2 * RETRY + 1.5, took
    wait_for(lambda: not a.thread.is_alive(), LEASE * 4, "a stops")
    assert a.error is not None and "could not renew" in str(a.error)  # a stopped leading and says why
    assert leaders_at_once(log) == 1  # a stopped (renew deadline) before b could start (lease time)
    spec = hub.manifests.get(LEASE_API, "Lease", lease, NAMESPACE)["spec"]
    assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1

    # A clean stop releases the Lease: the next candidate leads at its next attempt, not a lease later.
    c = Candidate(hub, lease, "c", log)
    c.thread.start()
    joined = time.monotonic()
    wait_for(lambda: c.tried_since(joined) >= 2, 30, "c tries")
    assert c.started() is None  # b still renews
    b.stop.set()
    released = time.monotonic()
    wait_for(lambda: not b.thread.is_alive(), 30, "b stops")
    assert b.error is None
    wait_for(c.started, LEASE * 4, "c takes over")
    assert c.started() - released < LEASE  # type: ignore[operator]
    c.stop.set()
    wait_for(lambda: not c.thread.is_alive(), 30, "c stops")
    assert c.error is None
    assert leaders_at_once(log) == 1
    assert hub.manifests.get(LEASE_API, "Lease", lease, NAMESPACE)["spec"].get("holderIdentity") is None  # released
