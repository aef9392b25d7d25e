"""Plotter: the plan for one application: which module runs where, on which data, enforcing what."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from m4d.api.common import Action, Capability, DataStore, Endpoint, Flow, Interface
from m4d.api.meta import Condition, Model, Resource
from m4d.api.module import ModuleDeployment


class AppRef(Model):
    """The application a plan or Blueprint serves; the uid keeps a re-created application apart."""

    name: str
    namespace: str
    uid: str = ""
    generation: int = 0


class PlotterAsset(Model):
    store: DataStore
    geography: str | None = None


class PlotterModule(Model):
    """A module as the plan uses it: copied from its M4DModule so members need nothing from the hub."""

    module: str
    deployment: ModuleDeployment
    api: Interface | None = None


class Step(Model):
    name: str
    cluster: str
    module: str = Field(description="Key into spec.modules")
    capability: Capability
    source: DataStore | None = None
    sink: DataStore | None = None
    actions: list[Action] = Field(default_factory=list)
    api: Interface | None = Field(default=None, description="Interface served to the workload, if any")


class PlotterFlow(Model):
    name: str
    asset_id: str
    flow: Flow
    steps: list[Step] = Field(min_length=1, description="Run in order; a copy precedes the read of its copy")


class PlotterSpec(Model):
    application: AppRef
    assets: dict[str, PlotterAsset] = Field(default_factory=dict)
    modules: dict[str, PlotterModule] = Field(default_factory=dict)
    flows: list[PlotterFlow] = Field(default_factory=list)


BlueprintPhase = Literal["Pending", "WaitApplied", "Ready", "Error", "Offline"]


class ClusterState(Model):
    blueprint: str
    spec_hash: str | None = Field(default=None, description="Digest of the committed Blueprint spec")
    committed_revision: str | None = None
    applied_revision: str | None = None
    observed_generation: int | None = None
    phase: BlueprintPhase = "Pending"
    message: str | None = None


class ReviewStatus(Model):
    """The pull request a plan waits in (review mode): Open until merged; Rejected when it was closed
    without merge (the same plan is not proposed again until it changes)."""

    state: Literal["Open", "Rejected"]
    url: str | None = Field(default=None, description="Where a reviewer finds the pull request")
    branch: str
    number: int | None = Field(default=None, description="The pull request's number on the Git host")
    commit: str | None = Field(default=None, description="The commit under review")


class PlotterStatus(Model):
    observed_generation: int | None = None
    ready: bool = False
    conditions: list[Condition] = Field(default_factory=list)
    committed_revision: str | None = None
    clusters: dict[str, ClusterState] = Field(default_factory=dict)
    ready_clusters: str | None = Field(default=None, description="n/m clusters ready, for printing")
    endpoints: dict[str, Endpoint] = Field(default_factory=dict, description="Per asset id")
    review: ReviewStatus | None = Field(default=None, description="The pull request the plan waits in, if any")


class Plotter(Resource):
    KIND: ClassVar[str] = "Plotter"

    spec: PlotterSpec
    status: PlotterStatus | None = None
