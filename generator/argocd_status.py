"""What Argo CD says about a member cluster: the sync, health and last operation of its Application.

Argo CD records them in the status of the Application the generator renders for the cluster
(`argocd/clusters/<name>.yaml`, named `m4d-<name>`, in Argo CD's namespace on the hub). Parsed at the
edge into `ArgoCDStatus`, with only the fields the platform shows (`m4d describe membercluster` reads
the Application from the hub and prints `lines()`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class SyncStatus(_Wire):
    status: str = "Unknown"
    revision: str | None = None


class HealthStatus(_Wire):
    status: str = "Unknown"
    message: str | None = None


class SyncResult(_Wire):
    revision: str | None = None


class OperationState(_Wire):
    phase: str | None = None
    message: str | None = None
    started_at: str | None = Field(default=None, alias="startedAt")
    finished_at: str | None = Field(default=None, alias="finishedAt")
    sync_result: SyncResult | None = Field(default=None, alias="syncResult")


class ResourceStatus(_Wire):
    kind: str = ""
    name: str = ""
    namespace: str | None = None
    status: str | None = None  # Synced / OutOfSync
    health: HealthStatus | None = None


class Condition(_Wire):
    type: str = ""
    message: str | None = None


class ApplicationStatus(_Wire):
    sync: SyncStatus = Field(default_factory=SyncStatus)
    health: HealthStatus = Field(default_factory=HealthStatus)
    operation_state: OperationState | None = Field(default=None, alias="operationState")
    resources: list[ResourceStatus] = Field(default_factory=list)
    conditions: list[Condition] = Field(default_factory=list)


class ArgoCDStatus(BaseModel):
    """One cluster's Application as Argo CD reports it."""

    namespace: str
    name: str
    status: ApplicationStatus

    @classmethod
    def parse(cls, doc: dict[str, Any]) -> ArgoCDStatus:
        meta = doc.get("metadata") or {}
        return cls(
            namespace=str(meta.get("namespace") or ""),
            name=str(meta.get("name") or ""),
            status=ApplicationStatus.model_validate(doc.get("status") or {}),
        )

    def lines(self) -> list[tuple[str, str]]:
        """(label, value) pairs for a describe view."""
        s = self.status
        out = [("Application", f"{self.namespace}/{self.name}")]
        sync = s.sync.status + (f" at {s.sync.revision[:12]}" if s.sync.revision else "")
        out.append(("Sync", sync))
        out.append(("Health", s.health.status + (f": {s.health.message}" if s.health.message else "")))
        op = s.operation_state
        if op is not None and op.phase:
            when = f", finished {op.finished_at}" if op.finished_at else f", started {op.started_at}"
            revision = op.sync_result.revision[:12] if op.sync_result and op.sync_result.revision else None
            detail = f" at {revision}" if revision else ""
            out.append(("Operation", f"{op.phase}{detail}{when}" + (f": {op.message}" if op.message else "")))
        else:
            out.append(("Operation", "<none>"))
        by_health: dict[str, int] = {}
        for resource in s.resources:
            key = resource.health.status if resource.health else "-"
            by_health[key] = by_health.get(key, 0) + 1
        counts = ", ".join(f"{n} {h}" for h, n in sorted(by_health.items()))
        out.append(("Resources", f"{len(s.resources)}" + (f" ({counts})" if counts else "")))
        for resource in s.resources:
            if resource.health is not None and resource.health.status not in ("Healthy",) and resource.health.message:
                out.append(
                    (f"  {resource.kind}/{resource.name}", f"{resource.health.status}: {resource.health.message}")
                )
        out.extend(("Condition", f"{c.type}: {c.message or ''}") for c in s.conditions)
        return out
