"""BlueprintReport: a member agent's account of one Blueprint, written to the hub under its own identity."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from m4d.api.blueprint import ModulePhase, ModuleState
from m4d.api.meta import Condition, Model, Resource
from m4d.api.plotter import AppRef

MAX_ERRORS = 10
MAX_ERROR_LENGTH = 1024


class BlueprintRef(Model):
    name: str
    namespace: str
    uid: str = ""
    generation: int = 0
    spec_hash: str | None = Field(default=None, description="Digest of the spec the agent acted on")


class BlueprintReportSpec(Model):
    cluster: str
    blueprint: BlueprintRef
    application: AppRef
    applied_revision: str | None = None
    phase: ModulePhase = "Pending"
    modules: dict[str, ModuleState] = Field(default_factory=dict)
    errors: list[Annotated[str, Field(max_length=MAX_ERROR_LENGTH)]] = Field(
        default_factory=list, max_length=MAX_ERRORS
    )


class BlueprintReportStatus(Model):
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)


def cap_errors(errors: list[str]) -> list[str]:
    """Keep reports small: the newest errors, each cut to a bounded length."""
    kept = errors[-MAX_ERRORS:]
    return [e if len(e) <= MAX_ERROR_LENGTH else e[: MAX_ERROR_LENGTH - 1] + "…" for e in kept]


class BlueprintReport(Resource):
    KIND: ClassVar[str] = "BlueprintReport"

    spec: BlueprintReportSpec
    status: BlueprintReportStatus | None = None
