"""What `KubeCluster` adds to the contract suite on a real API server: expired watches, prompt stops, resuming
across watch requests, errors of the wire, connecting, paging, and the controller runtime on the real hub.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from m4d.api import M4DApplication, MemberCluster
from m4d.api.application import M4DApplicationStatus
from m4d.cluster import kube, kube_watch
from m4d.cluster.connect import Target
from m4d.cluster.kube import KubeCluster
from m4d.errors import ConflictError, GoneError, NotFoundError, PermanentError, TemporaryError, UnauthorizedError
from m4d.runtime.controller import Controller, Outcome
from m4d.runtime.manager import Manager
from tests.factories import application
from tests.testenv.servers import ApiServer

pytestmark = pytest.mark.integration


@pytest.fixture
def ns(kube_cluster: KubeCluster) -> str:
    name = f"k-{uuid.uuid4().hex[:8]}"
    kube_cluster.ensure_namespace(name)
    return name


def test_watch_from_expired_history_is_gone(kube_cluster: KubeCluster, ns: str) -> None:
    kube_cluster.create(application("a", ns))
    with pytest.raises(GoneError):
        list(kube_cluster.watch(M4DApplication, ns, resource_version="1", timeout=2))


def test_close_ends_an_idle_watch_promptly(kube_cluster: KubeCluster, ns: str) -> None:
    start = kube_cluster.list(M4DApplication, ns).resource_version
    stream = kube_cluster.watch(M4DApplication, ns, start)
    events: list[str] = []
    thread = threading.Thread(target=lambda: events.extend(e.type for e in stream))
    thread.start()
    time.sleep(0.5)
    closed_at = time.monotonic()
    stream.close()
    thread.join(10)
    assert not thread.is_alive()
    assert time.monotonic() - closed_at < 2  # the request itself would last LONGEST_REQUEST (300 s)
    assert events == []


def test_a_watch_resumes_across_server_requests(
    kube_cluster: KubeCluster, ns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server ends each request after LONGEST_REQUEST; the next resumes where it ended, losing nothing."""
    monkeypatch.setattr(kube_watch, "LONGEST_REQUEST", 1)
    start = kube_cluster.list(M4DApplication, ns).resource_version
    stream = kube_cluster.watch(M4DApplication, ns, start, timeout=20)
    seen: list[str] = []

    def consume() -> None:
        for event in stream:
            if event.object is not None:
                seen.append(event.object.name)
                if len(seen) == 3:
                    stream.close()

    thread = threading.Thread(target=consume)
    thread.start()
    for name in ("a", "b", "c"):
        kube_cluster.create(application(name, ns))
        time.sleep(1.3)
    thread.join(25)
    assert seen == ["a", "b", "c"]
    assert isinstance(stream, kube_watch.KubeWatch) and stream.requests >= 3


def test_watch_ends_at_its_timeout_with_a_bookmark_to_resume_from(kube_cluster: KubeCluster, ns: str) -> None:
    start = kube_cluster.list(M4DApplication, ns).resource_version
    created = kube_cluster.create(application("a", ns))
    began = time.monotonic()
    events = list(kube_cluster.watch(M4DApplication, ns, start, timeout=1.2))
    assert 1.0 <= time.monotonic() - began < 5
    assert [e.type for e in events if e.object is not None] == ["ADDED"]
    assert events[-1].type == "BOOKMARK"
    assert int(events[-1].resource_version) >= int(created.metadata.resource_version or 0)


def test_update_without_a_resource_version_writes_over_the_current_one(kube_cluster: KubeCluster, ns: str) -> None:
    kube_cluster.create(application("a", ns))
    blind = application("a", ns, intent="Marketing")
    assert blind.metadata.resource_version is None
    assert kube_cluster.update(blind).spec.app_info.intent == "Marketing"
    blind.status = M4DApplicationStatus(ready=True)
    assert kube_cluster.update_status(blind).status == M4DApplicationStatus(ready=True)


def test_apply_without_force_conflicts_with_another_manager(kube_cluster: KubeCluster, ns: str) -> None:
    kube_cluster.apply(application("a", ns), field_manager="first")
    with pytest.raises(ConflictError):
        kube_cluster.apply(application("a", ns, intent="Marketing"), field_manager="second", force=False)
    taken = kube_cluster.apply(application("a", ns, intent="Marketing"), field_manager="second")
    assert taken.spec.app_info.intent == "Marketing"


def test_list_follows_pages(kube_cluster: KubeCluster, ns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("c", "a", "e", "b", "d"):
        kube_cluster.create(application(name, ns))
    monkeypatch.setattr(kube, "LIST_PAGE", 2)
    listed = kube_cluster.list(M4DApplication, ns)
    assert [a.name for a in listed.items] == ["a", "b", "c", "d", "e"]
    assert listed.resource_version


def test_missing_objects_and_kinds_not_installed(kube_cluster: KubeCluster, member_apis: tuple[ApiServer, ...]) -> None:
    with pytest.raises(NotFoundError, match="M4DApplication default/nope on cluster hub"):
        kube_cluster.get(M4DApplication, "nope")
    member = KubeCluster.from_kubeconfig(member_apis[0].context, str(member_apis[0].kubeconfig))
    try:  # the member has no CRDs: the kind itself is not found
        with pytest.raises(NotFoundError):
            member.list(MemberCluster)
    finally:
        member.close()


def test_wrong_token_is_unauthorized(hub_api: ApiServer, hub_crds: list[str]) -> None:
    stranger = KubeCluster.from_token(hub_api.url, "not-a-token", str(hub_api.ca_file), name="hub")
    try:
        with pytest.raises(UnauthorizedError, match="cluster hub"):
            stranger.list(MemberCluster)
    finally:
        stranger.close()


def test_a_server_that_is_not_there_is_a_temporary_error(hub_api: ApiServer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens once the socket is closed
    gone = KubeCluster.from_token(f"https://127.0.0.1:{port}", "t", str(hub_api.ca_file), name="nowhere")
    try:
        with pytest.raises(TemporaryError, match=f"cannot reach cluster nowhere at https://127.0.0.1:{port}"):
            gone.get(MemberCluster, "x")
    finally:
        gone.close()


def test_connecting_through_a_kubeconfig_context(hub_api: ApiServer, hub_crds: list[str], tmp_path: Path) -> None:
    target = Target(kube_context=hub_api.context, kubeconfig=str(hub_api.kubeconfig))
    hub = target.open_hub()
    try:
        assert isinstance(hub, KubeCluster) and hub.name == "hub"
        assert hub.list(MemberCluster).resource_version
    finally:
        hub.close()
    with pytest.raises(PermanentError, match="cannot use kube context nope"):
        KubeCluster.from_kubeconfig(context="nope", config_file=str(hub_api.kubeconfig))
    with pytest.raises(PermanentError, match="cannot use kube context"):
        KubeCluster.from_kubeconfig(config_file=str(tmp_path / "absent"))


@dataclass
class ReadyController(Controller[M4DApplication]):
    """Marks applications of one namespace Ready; holds them with a finalizer until it has seen them go."""

    scope: str = ""
    finalized: list[str] | None = None

    def __post_init__(self) -> None:
        self.kind = M4DApplication
        self.name = "ready"
        self.finalizer = "app.m4d.dev/ready-test"
        self.namespace = self.scope
        self.finalized = []

    def reconcile(self, obj: M4DApplication) -> Outcome:
        return Outcome(status=M4DApplicationStatus(ready=True))

    def finalize(self, obj: M4DApplication) -> Outcome:
        assert self.finalized is not None
        self.finalized.append(obj.name)
        return Outcome()


def test_the_controller_runtime_runs_on_the_real_hub(kube_cluster: KubeCluster, ns: str) -> None:
    for name in ("a", "b"):
        kube_cluster.create(application(name, ns))
    controller = ReadyController(kube_cluster, scope=ns)
    assert Manager([controller]).run_until_idle(timeout=30)
    for name in ("a", "b"):
        stored = kube_cluster.get(M4DApplication, name, ns)
        assert stored.status is not None and stored.status.ready and stored.status.observed_generation == 1
        assert stored.metadata.finalizers == ["app.m4d.dev/ready-test"]
    kube_cluster.delete(M4DApplication, "a", ns)
    assert Manager([controller]).run_until_idle(timeout=30)
    assert controller.finalized == ["a"]
    with pytest.raises(NotFoundError):
        kube_cluster.get(M4DApplication, "a", ns)
