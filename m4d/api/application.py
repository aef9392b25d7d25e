"""M4DApplication: what a data user asks for: which data, for what purpose, over which interface."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from m4d.api.common import Action, Endpoint, Flow, Interface
from m4d.api.meta import Condition, LabelSelector, Model, ObjectRef, Resource


class WorkloadSelector(Model):
    cluster_name: str | None = Field(default=None, description="Cluster the workload runs in, if known")
    workload_selector: LabelSelector = Field(default_factory=LabelSelector)


class AppInfo(Model):
    """The context policies are evaluated in. `properties` holds operator-defined taxonomy extensions."""

    intent: str = Field(min_length=1, description="Purpose of the processing, e.g. Fraud Detection")
    role: str | None = None
    processing_geography: str | None = Field(default=None, description="Where the workload processes data")
    properties: dict[str, str] = Field(default_factory=dict)


class CopyOptions(Model):
    required: bool = Field(default=False, description="Always copy, even if the source could be read in place")
    catalog: str | None = Field(default=None, description="Register the copy in this catalog")


class DataRequirements(Model):
    interface: Interface
    copy_: CopyOptions | None = Field(default=None, alias="copy")


class DataContext(Model):
    data_set_id: str = Field(alias="dataSetID", min_length=1)
    flow: Flow = "read"
    requirements: DataRequirements


class M4DApplicationSpec(Model):
    selector: WorkloadSelector = Field(default_factory=WorkloadSelector)
    app_info: AppInfo
    data: list[DataContext] = Field(min_length=1)

    @field_validator("data")
    @classmethod
    def _unique_assets(cls, value: list[DataContext]) -> list[DataContext]:
        seen: set[tuple[str, str]] = set()
        for item in value:
            key = (item.data_set_id, item.flow)
            if key in seen:
                raise ValueError(f"dataSetID {item.data_set_id!r} is listed twice for flow {item.flow}")
            seen.add(key)
        return value


class Decision(Model):
    """One policy manager answer, recorded so the user can see why the plan looks as it does."""

    flow: Flow
    geography: str | None = None
    actions: list[Action] = Field(default_factory=list)
    denied: bool = False
    policy: str | None = Field(default=None, description="The policy that denied, or produced the actions")
    message: str | None = None


class ModuleChoice(Model):
    module: str
    capability: str
    cluster: str
    actions: list[str] = Field(default_factory=list)
    storage: str | None = Field(default=None, description="Storage account a copy is written to")


Verdict = Literal["chosen", "viable", "rejected", "ignored"]


class Consideration(Model):
    """One candidate the planner weighed (a module on a cluster for a step), and why it was taken or not."""

    step: str = Field(description="read, copy, write, or module/cluster/storage for inputs set aside")
    module: str | None = None
    cluster: str | None = None
    storage: str | None = None
    verdict: Verdict
    reason: str = ""


class AssetState(Model):
    conditions: list[Condition] = Field(default_factory=list)
    endpoint: Endpoint | None = None
    decisions: list[Decision] = Field(default_factory=list)
    modules: list[ModuleChoice] = Field(default_factory=list)
    cataloged_asset: str | None = Field(default=None, description="Catalog id of a copy or written asset")
    explanation: list[Consideration] = Field(default_factory=list, description="What `m4d explain` prints")


class SecretKeyRef(Model):
    """A key of a Secret in the object's own namespace."""

    name: str
    key: str


class M4DApplicationStatus(Model):
    observed_generation: int | None = None
    ready: bool = False
    conditions: list[Condition] = Field(default_factory=list)
    asset_states: dict[str, AssetState] = Field(default_factory=dict)
    plotter: ObjectRef | None = None
    access_token: SecretKeyRef | None = Field(
        default=None, description="The Secret (in the application's namespace) holding its workload's access token"
    )


class M4DApplication(Resource):
    KIND: ClassVar[str] = "M4DApplication"

    spec: M4DApplicationSpec
    status: M4DApplicationStatus | None = None
