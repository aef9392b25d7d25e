"""What is asked of a policy manager and what it answers, as typed values."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from m4d.api.application import AppInfo
from m4d.api.common import Action
from m4d.api.meta import Model
from m4d.connectors.catalog.model import AssetInfo

Operation = Literal["read", "write", "copy", "delete"]


class PolicyRequest(Model):
    """May `action` be done on `asset` for this context, processing at `processing_geography`, writing to
    `destination`? `resource_geography` is where the data processed lives when it is not the asset's own
    place (a copy lives in its storage account's geography)."""

    action: Operation
    asset: AssetInfo
    context: AppInfo
    processing_geography: str | None = None
    destination: str | None = None
    resource_geography: str | None = None

    @property
    def geography(self) -> str | None:
        return self.resource_geography or self.asset.geography

    def key(self) -> tuple[str, str, str, str, str]:
        """Identifies the question within one application (same context), for caching answers."""
        return (self.action, self.asset.id, self.geography or "", self.processing_geography or "",
                self.destination or "")  # fmt: skip

    def describe(self, processing: str | None = None) -> str:
        """In words; `processing` stands in for the processing geography (e.g. a list of several)."""
        text = f"{self.action} of {self.asset.id}"
        if self.resource_geography and self.resource_geography != self.asset.geography:
            text += f" (copy in {self.resource_geography})"
        text += f" for intent {self.context.intent!r}"
        if self.context.role:
            text += f" as role {self.context.role!r}"
        where = processing or self.processing_geography
        if where:
            text += f" processed in {where}"
        if self.destination:
            text += f" written to {self.destination}"
        return text


class DecidedAction(Model):
    action: Action
    policy: str


class PolicyDecision(Model):
    """Denied (with the policies that denied), or allowed with the actions that must be enforced."""

    denied: bool = False
    deny_policies: list[str] = Field(default_factory=list)
    actions: list[DecidedAction] = Field(default_factory=list)
    message: str | None = None

    @property
    def policies(self) -> list[str]:
        names = self.deny_policies if self.denied else [a.policy for a in self.actions]
        return sorted(set(names))
