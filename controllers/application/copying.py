"""Copies: into which storage account, on which cluster, by which module an asset may be copied, and
the read of that copy (copy-then-read). Candidates are found lazily, in preference order: storage in a
workload geography first, then in the asset's, then by name; clusters in the asset's geography first.
A read's actions that the copy module can enforce are done in the copy; the reader enforces the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from m4d.api.cluster import MemberCluster
from m4d.api.common import DataStore
from m4d.api.module import M4DModule, ModuleCapability
from m4d.api.storage import M4DStorageAccount
from m4d.connectors.policy.model import DecidedAction, PolicyDecision
from m4d.controllers.application.actions import without
from m4d.controllers.application.candidates import capability, copy_target, interface_of, missing_actions, prefer
from m4d.controllers.application.setting import actions_text

if TYPE_CHECKING:
    from m4d.controllers.application.flows import FlowPlanner


@dataclass
class CopyCandidate:
    """A storage account, a cluster and a copy module that may copy the asset, with the copy's decision."""

    storage: M4DStorageAccount
    target: DataStore
    cluster: MemberCluster
    module: M4DModule
    cap: ModuleCapability
    actions: list[DecidedAction]
    decision: PolicyDecision


def copy_then_read(fp: FlowPlanner, readers: list[M4DModule]) -> bool:
    rec = fp.rec
    for copy in copies(fp, prefer_geos=[c.spec.region for c in fp.s.workload]):
        for cluster in prefer(fp.s.workload, copy.storage.spec.geography):
            decision = fp.ask("read", cluster.spec.region, resource_geo=copy.storage.spec.geography)
            where = {"cluster": cluster.name, "storage": copy.storage.name}
            if decision.denied:
                text = fp.last_denial()
                rec.consider("read", "rejected", text, **where)
                fp.copy_denials.append(fp.asked[-1])
                continue
            wanted = fp.norm(decision.actions)
            taken = [a for a in wanted if a.action.name in {x.name for x in copy.cap.actions}]
            copy_actions = fp.norm([*copy.actions, *taken])
            rest = without(wanted, copy_actions)
            sink = interface_of(copy.target)
            for module in readers:
                cap = capability(module, "read", source=sink, api=fp.api)
                if cap is None:
                    why = f"does not read the copy ({sink}) and serve {fp.api}"
                elif missing := missing_actions(cap, [a.action for a in rest]):
                    why = f"cannot enforce {', '.join(missing)}, and copy module {copy.module.name} does not either"
                else:
                    rec.consider(
                        "copy",
                        "chosen",
                        f"copies {fp.source} to {sink}, enforcing {actions_text(copy_actions)}",
                        module=copy.module.name,
                        cluster=copy.cluster.name,
                        storage=copy.storage.name,
                    )
                    rec.consider(
                        "read",
                        "chosen",
                        f"reads the copy, enforcing {actions_text(rest)}",
                        module=module.name,
                        **where,
                    )
                    finish_copy_read(fp, copy, copy_actions, cluster, module, cap, rest, decision)
                    return True
                rec.consider("read", "rejected", why, module=module.name, **where)
                fp.copy_blockers.append(("module", f"module {module.name} {why}"))
    return False


def finish_copy_read(
    fp: FlowPlanner,
    copy: CopyCandidate,
    copy_actions: list[DecidedAction],
    cluster: MemberCluster,
    module: M4DModule,
    cap: ModuleCapability,
    rest: list[DecidedAction],
    decision: PolicyDecision,
) -> None:
    rec, storage = fp.rec, copy.storage
    fp.decided("copy", copy.cluster.spec.region, copy.decision, f"copy written to {storage.spec.geography}")
    fp.decided("read", cluster.spec.region, decision, f"read of the copy in {storage.spec.geography}")
    rec.choose(copy.module.name, "copy", copy.cluster.name, copy_actions, storage=storage.name)
    rec.choose(module.name, "read", cluster.name, rest, storage=storage.name)
    steps = [
        fp.step("copy", copy.cluster, copy.module, copy.cap, copy_actions, source=fp.asset.store, sink=copy.target),
        fp.step("read", cluster, module, cap, rest, source=copy.target),
    ]
    fp.finish(
        steps,
        f"copied by module {copy.module.name} on cluster {copy.cluster.name} to storage account {storage.name} "
        f"({storage.spec.geography}) enforcing {actions_text(copy_actions)}, then read by module "
        f"{module.name} on cluster {cluster.name} enforcing {actions_text(rest)}",
    )


def copies(fp: FlowPlanner, prefer_geos: list[str]) -> Iterator[CopyCandidate]:
    """Each (storage, cluster, copy module) that may copy the asset, in preference order, found lazily:
    candidates after the one that is taken are never asked about."""
    rec, asset = fp.rec, fp.asset
    copiers = fp.s.with_capability("copy")
    if not copiers:
        fp.copy_blockers.append(("module", "no module has the copy capability"))
    if not fp.s.storage:
        fp.copy_blockers.append(("storage", "no usable M4DStorageAccount to copy to"))
    if not copiers or not fp.s.storage:
        return  # nothing to ask the policy manager about
    app = fp.s.app
    accounts = sorted(
        fp.s.storage,
        key=lambda a: (a.spec.geography not in prefer_geos, a.spec.geography != asset.geography, a.name),
    )
    for account in accounts:
        target = copy_target(account, app.namespace or "default", app.name, asset.id)
        if target is None:
            why = f"cannot hold copies: connection kind {account.spec.connection.kind} has no copy layout"
            rec.consider("copy", "rejected", why, storage=account.name)
            fp.copy_blockers.append(("storage", f"storage account {account.name} {why}"))
            continue
        for cluster in prefer(fp.s.clusters, asset.geography, account.spec.geography):
            where = {"cluster": cluster.name, "storage": account.name}
            decision = fp.ask("copy", cluster.spec.region, destination=account.spec.geography)
            if decision.denied:
                text = fp.last_denial()
                rec.consider("copy", "rejected", text, **where)
                fp.copy_denials.append(fp.asked[-1])
                continue
            actions = fp.norm(decision.actions)
            sink = interface_of(target)
            for module in copiers:
                cap = capability(module, "copy", source=fp.source, sink=sink)
                if cap is None:
                    why = f"does not copy {fp.source} to {sink}"
                elif missing := missing_actions(cap, [a.action for a in actions]):
                    why = f"cannot enforce {', '.join(missing)}"
                else:
                    yield CopyCandidate(account, target, cluster, module, cap, actions, decision)
                    continue
                rec.consider("copy", "rejected", why, module=module.name, **where)
                fp.copy_blockers.append(("module", f"module {module.name} {why}"))


# -- write and copy flows -------------------------------------------------------------------
