"""A member agent's identity on the real hub: it writes its own BlueprintReports and heartbeat, nothing else.

The agent authenticates with a service-account token from the TokenRequest API, as it does in production;
every refusal is the hub's RBAC authorizer answering 403, seen as ForbiddenError.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from m4d.api import M4DApplication, MemberCluster
from m4d.api.cluster import MemberClusterStatus
from m4d.api.meta import utcnow
from m4d.api.plotter import AppRef
from m4d.api.report import BlueprintRef, BlueprintReport, BlueprintReportSpec, BlueprintReportStatus
from m4d.cluster.kube import KubeCluster
from m4d.cluster.rbac import SERVICE_ACCOUNT, agent_user, member_agent_manifests, member_namespace
from m4d.errors import ForbiddenError, UnauthorizedError
from tests.factories import application, member
from tests.integration.cluster.fixtures import FIELD_MANAGER, admin_cluster
from tests.testenv.servers import ApiServer

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Members:
    admin: KubeCluster
    own: str  # the member whose agent acts
    other: str  # another member
    agent: KubeCluster  # the hub, as `own`'s agent


def report(name: str, member_name: str) -> BlueprintReport:
    spec = BlueprintReportSpec(
        cluster=member_name,
        blueprint=BlueprintRef(name=name, namespace="m4d-blueprints", generation=1),
        application=AppRef(name="notebook", namespace="default"),
        phase="Ready",
    )
    return BlueprintReport.new(name, member_namespace(member_name), spec=spec)


@pytest.fixture(scope="module")
def members(hub_api: ApiServer, hub_crds: list[str]) -> Iterator[Members]:
    admin = admin_cluster(hub_api)
    own, other = (f"m{uuid.uuid4().hex[:6]}" for _ in range(2))
    for name in (own, other):
        admin.manifests.apply_all(member_agent_manifests(name), FIELD_MANAGER)
        admin.create(member(name))
    admin.create(report("theirs", other))
    token = admin.manifests.service_account_token(member_namespace(own), SERVICE_ACCOUNT, seconds=600)
    agent = KubeCluster.from_token(hub_api.url, token, ca_file=str(hub_api.ca_file), name=f"hub as {own}'s agent")
    yield Members(admin, own, other, agent)
    agent.close()
    admin.close()


def test_the_agent_writes_its_own_reports(members: Members) -> None:
    agent, ns = members.agent, member_namespace(members.own)
    created = agent.create(report("bp-1", members.own))
    created.spec.phase = "Failed"
    created.spec.errors = ["module read: image pull failed"]
    updated = agent.update(created)
    updated.status = BlueprintReportStatus(observed_generation=updated.metadata.generation)
    agent.update_status(updated)
    agent.apply(report("bp-2", members.own), field_manager="m4d-agent")
    assert [r.name for r in agent.list(BlueprintReport, ns).items] == ["bp-1", "bp-2"]
    seen = [e.object.name for e in agent.watch(BlueprintReport, ns, timeout=0.5) if e.object is not None]
    assert seen == ["bp-1", "bp-2"]
    assert agent.delete(BlueprintReport, "bp-2", ns) is None
    assert members.admin.get(BlueprintReport, "bp-1", ns).spec.phase == "Failed"


def test_the_agent_writes_its_own_heartbeat(members: Members) -> None:
    own = members.agent.get(MemberCluster, members.own)
    own.status = MemberClusterStatus(last_heartbeat=utcnow(), applied_revision="abc123", agent_version="0.1.0")
    beat = members.agent.update_status(own)
    assert beat.status is not None and beat.status.applied_revision == "abc123"
    assert members.admin.get(MemberCluster, members.own).status == beat.status


def _refusals(members: Members) -> dict[str, Callable[[], Any]]:
    agent, own, other = members.agent, members.own, members.other
    theirs = members.admin.get(BlueprintReport, "theirs", member_namespace(other))
    their_cluster = members.admin.get(MemberCluster, other)
    their_cluster.status = MemberClusterStatus(last_heartbeat=utcnow())
    own_cluster = members.admin.get(MemberCluster, own)
    own_cluster.spec.region = "moved"
    return {
        "write a report in another member's namespace": lambda: agent.create(report("forged", other)),
        "read another member's report": lambda: agent.get(BlueprintReport, "theirs", member_namespace(other)),
        "change another member's report": lambda: agent.update(theirs),
        "list every member's reports": lambda: agent.list(BlueprintReport),
        "read another MemberCluster": lambda: agent.get(MemberCluster, other),
        "heartbeat for another member": lambda: agent.update_status(their_cluster),
        "list MemberClusters": lambda: agent.list(MemberCluster),
        "change its own MemberCluster's spec": lambda: agent.update(own_cluster),
        "delete its own MemberCluster": lambda: agent.delete(MemberCluster, own),
        "create an M4DApplication in its namespace": lambda: agent.create(application("a", member_namespace(own))),
        "read M4DApplications": lambda: agent.list(M4DApplication, "default"),
        "create a namespace": lambda: agent.ensure_namespace("m4d-agent-was-here"),
    }


def test_the_agent_is_refused_everything_else(members: Members) -> None:
    refused: dict[str, str] = {}
    for what, attempt in _refusals(members).items():
        with pytest.raises(ForbiddenError) as error:
            attempt()
        refused[what] = str(error.value)
    assert all(agent_user(members.own) in message for message in refused.values()), refused


def test_the_token_is_the_hubs_alone(members: Members, member_apis: tuple[ApiServer, ...]) -> None:
    """A member cluster's API server does not accept a token the hub issued."""
    token = members.admin.manifests.service_account_token(member_namespace(members.own), SERVICE_ACCOUNT, 600)
    elsewhere = KubeCluster.from_token(member_apis[0].url, token, str(member_apis[0].ca_file), name="member1")
    try:
        with pytest.raises(UnauthorizedError):
            elsewhere.list(MemberCluster)
    finally:
        elsewhere.close()
