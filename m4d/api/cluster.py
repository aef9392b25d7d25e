"""MemberCluster: a cluster the hub plans onto (cluster-scoped; created by onboarding)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from m4d.api.meta import Condition, Model, Resource


class ArgoDestination(Model):
    """How Argo CD on the hub reaches the member; never a credential (that lives in Argo CD's secret)."""

    server: str | None = None
    name: str | None = None
    namespace: str = "m4d-blueprints"


class MemberClusterSpec(Model):
    region: str = Field(min_length=1)
    zone: str | None = None
    labels: dict[str, str] = Field(default_factory=dict, description="Placement labels")
    auth_path: str | None = Field(default=None, description="Vault auth mount the member's modules log in with")
    vault_role: str | None = Field(
        default=None, description="Vault role the member's modules log in as (Kubernetes auth) to read credentials"
    )
    destination: ArgoDestination = Field(default_factory=ArgoDestination)


class MemberClusterStatus(Model):
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    last_heartbeat: datetime | None = None
    applied_revision: str | None = None
    agent_version: str | None = None


class MemberCluster(Resource):
    KIND: ClassVar[str] = "MemberCluster"
    NAMESPACED: ClassVar[bool] = False

    spec: MemberClusterSpec
    status: MemberClusterStatus | None = None
