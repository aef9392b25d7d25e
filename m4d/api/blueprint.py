"""Blueprint: everything one member cluster runs for one application. Reaches members only through Git."""

from __future__ import annotations

import hashlib
import json
from typing import ClassVar, Literal

from pydantic import Field

from m4d.api.common import Action, Capability, DataStore, Endpoint, Interface
from m4d.api.meta import Condition, Model, Resource
from m4d.api.module import ModuleDeployment
from m4d.api.plotter import AppRef


class ModuleAsset(Model):
    """One asset a module instance handles, with the transformations it must apply."""

    asset_id: str
    capability: Capability
    source: DataStore | None = None
    sink: DataStore | None = None
    actions: list[Action] = Field(default_factory=list)
    api: Interface | None = None


class BlueprintModule(Model):
    name: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    module: str
    deployment: ModuleDeployment
    assets: list[ModuleAsset] = Field(min_length=1)


class VaultLogin(Model):
    """How the cluster's modules log in to Vault to read the credentials their assets reference: the
    Kubernetes auth mount and role (never a secret; the address is the member agent's setting)."""

    auth_path: str = Field(default="kubernetes", min_length=1)
    role: str = Field(min_length=1)


class BlueprintSpec(Model):
    cluster: str
    application: AppRef
    plotter: str = Field(description="namespace/name of the Plotter on the hub")
    modules: list[BlueprintModule] = Field(default_factory=list)
    vault: VaultLogin | None = Field(default=None, description="Vault login of the modules (credentialRef paths)")


ModulePhase = Literal["Pending", "Ready", "Failed", "Completed"]


class ModuleState(Model):
    phase: ModulePhase = "Pending"
    endpoint: Endpoint | None = None
    message: str | None = Field(default=None, max_length=1024)
    restarts: int = 0


class BlueprintStatus(Model):
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    modules: dict[str, ModuleState] = Field(default_factory=dict)


class Blueprint(Resource):
    KIND: ClassVar[str] = "Blueprint"

    spec: BlueprintSpec
    status: BlueprintStatus | None = None


def spec_hash(spec: BlueprintSpec) -> str:
    """A short digest of a Blueprint's spec: the hub and a member agree a Blueprint is applied when their
    digests match, whatever Git revision carried it and whatever the member's generation counter says."""
    canonical = json.dumps(spec.wire(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
