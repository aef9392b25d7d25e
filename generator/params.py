"""Parameters: what each member cluster must run for one Plotter, before any manifest exists.

The first layer of the generator (as in Argo CD's ApplicationSet: parameters, then templates): walk
the Plotter's flows and steps, check every step names a module of the plan and a registered cluster,
and group the steps of one module template on one cluster into one module instance with several assets.
Order follows the plan (flows, then steps), which is how the plan says things run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from m4d.api.blueprint import BlueprintModule, ModuleAsset, VaultLogin
from m4d.api.cluster import MemberCluster
from m4d.api.common import DataStore
from m4d.api.plotter import AppRef, Plotter
from m4d.errors import FieldError, InvalidError
from m4d.generator.naming import blueprint_name, instance_name

# Keys of connection properties that would carry a credential. A Blueprint names credentials by
# reference (`credentialRef`, a Vault path) and never holds one, because it is committed to Git.
_SECRET_KEY = re.compile(r"(pass(word|wd)?|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|credential)", re.I)


@dataclass(frozen=True)
class BlueprintParams:
    """One Blueprint to render: the application's modules on one cluster."""

    cluster: str
    name: str
    namespace: str
    application: AppRef
    plotter: str
    modules: tuple[BlueprintModule, ...]
    vault: VaultLogin | None = None


@dataclass
class _Instance:
    module: str
    assets: list[ModuleAsset] = field(default_factory=list)


def _check_store(store: DataStore | None, path: str, errors: list[FieldError]) -> None:
    if store is None:
        return
    for key in store.connection.properties:
        if _SECRET_KEY.search(key):
            errors.append(
                FieldError(
                    f"{path}.connection.properties.{key}",
                    "looks like a credential; reference credentials with credentialRef (a Vault path), "
                    "never inline them: Blueprints are committed to Git",
                )
            )


def plotter_params(plotter: Plotter, clusters: Mapping[str, MemberCluster]) -> list[BlueprintParams]:
    """The Blueprints a Plotter needs, one per cluster its steps run on, ordered by cluster name.

    Raises InvalidError naming every step that refers to an unknown module or cluster, or carries a
    credential.
    """
    spec = plotter.spec
    errors: list[FieldError] = []
    per_cluster: dict[str, dict[str, _Instance]] = {}
    for i, flow in enumerate(spec.flows):
        for j, step in enumerate(flow.steps):
            where = f"spec.flows[{i}].steps[{j}]"
            if step.module not in spec.modules:
                known = ", ".join(sorted(spec.modules)) or "none"
                errors.append(FieldError(f"{where}.module", f"no module {step.module!r} in spec.modules (has {known})"))
                continue
            if step.cluster not in clusters:
                known = ", ".join(sorted(clusters)) or "none registered"
                errors.append(
                    FieldError(f"{where}.cluster", f"cluster {step.cluster!r} is not a MemberCluster (known: {known})")
                )
                continue
            _check_store(step.source, f"{where}.source", errors)
            _check_store(step.sink, f"{where}.sink", errors)
            instances = per_cluster.setdefault(step.cluster, {})
            instance = instances.setdefault(step.module, _Instance(module=spec.modules[step.module].module))
            instance.assets.append(
                ModuleAsset(
                    asset_id=flow.asset_id,
                    capability=step.capability,
                    source=step.source,
                    sink=step.sink,
                    actions=list(step.actions),
                    api=step.api,
                )
            )
    if errors:
        raise InvalidError(f"Plotter {plotter.key}", errors)

    name = blueprint_name(spec.application)
    out: list[BlueprintParams] = []
    for cluster in sorted(per_cluster):
        member = clusters[cluster].spec
        modules = tuple(
            BlueprintModule(
                name=instance_name(key),
                module=instance.module,
                deployment=spec.modules[key].deployment,
                assets=instance.assets,
            )
            for key, instance in per_cluster[cluster].items()
        )
        out.append(
            BlueprintParams(
                cluster=cluster,
                name=name,
                namespace=clusters[cluster].spec.destination.namespace,
                application=spec.application,
                plotter=plotter.key,
                modules=modules,
                vault=VaultLogin(auth_path=member.auth_path or "kubernetes", role=member.vault_role)
                if member.vault_role
                else None,
            )
        )
    return out
