"""M4DModule: what a module can do and how it is deployed (the operator's registration)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from m4d.api.common import Capability, Interface
from m4d.api.meta import Condition, Model, Resource


class ModuleInOut(Model):
    source: Interface | None = None
    sink: Interface | None = None


class SupportedAction(Model):
    name: str = Field(min_length=1)


class ModuleCapability(Model):
    capability: Capability
    scope: Literal["asset", "workload"] = "asset"
    supported_interfaces: list[ModuleInOut] = Field(default_factory=list)
    actions: list[SupportedAction] = Field(default_factory=list)
    api: Interface | None = Field(default=None, description="The interface the module serves to workloads")


class ModuleDeployment(Model):
    """How the agent runs an instance.

    `command` runs the module as a local process (the embedded default and test members); `image` and
    `manifest` are used on Kubernetes members. `{config}` and `{port}` in the command are substituted.
    `reloadsConfig`: the module applies a changed configuration file itself (a withdrawn grant, a new
    transform), so a local process gets the new file instead of a restart.
    """

    kind: Literal["Service", "Job"] = "Service"
    command: list[str] = Field(default_factory=list)
    image: str | None = None
    port: int | None = Field(default=None, ge=0, le=65535)
    manifest: dict[str, Any] | None = None
    reloads_config: bool = False


class M4DModuleSpec(Model):
    description: str | None = None
    capabilities: list[ModuleCapability] = Field(min_length=1)
    deployment: ModuleDeployment


class M4DModuleStatus(Model):
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)


class M4DModule(Resource):
    KIND: ClassVar[str] = "M4DModule"

    spec: M4DModuleSpec
    status: M4DModuleStatus | None = None
