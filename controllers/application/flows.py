"""How one asset is served: a read (direct, or copy-then-read), a write, or a copy into storage.

Candidates are weighed in a fixed order (clusters in the asset's geography first, then by name; modules
and storage accounts by name), every one is recorded with why it was taken or rejected, and the first
that satisfies capability, interface, governance and enforceable actions is chosen. Policy answers come
from `Setting.decide`, which only looks them up (the controller asked the policy manager).
"""

from __future__ import annotations

from collections.abc import Sequence

from m4d.api.application import Verdict
from m4d.api.cluster import MemberCluster
from m4d.api.common import DataStore, Interface
from m4d.api.module import M4DModule, ModuleCapability
from m4d.api.plotter import PlotterAsset, PlotterFlow, PlotterModule, Step
from m4d.connectors.catalog.model import AssetInfo
from m4d.connectors.policy.model import DecidedAction, Operation, PolicyDecision, PolicyRequest
from m4d.controllers.application.actions import normalize
from m4d.controllers.application.candidates import Failure, capability, interface_of, missing_actions, prefer, slug
from m4d.controllers.application.copying import copies, copy_then_read
from m4d.controllers.application.enforceable import action_problems
from m4d.controllers.application.record import AssetRecord
from m4d.controllers.application.setting import Setting, Stop, actions_text, summary


class FlowPlanner:
    def __init__(self, setting: Setting, record: AssetRecord, asset: AssetInfo) -> None:
        self.s = setting
        self.rec = record
        self.asset = asset
        self.api: Interface = record.data.requirements.interface
        self.source = interface_of(asset.store)
        self.columns = asset.column_names()
        self.copy_blockers: list[tuple[str, str]] = []  # (module | storage, what closed the copy path)
        self.copy_denials: list[tuple[PolicyRequest, PolicyDecision]] = []  # and which policies did
        self.asked: list[tuple[PolicyRequest, PolicyDecision]] = []

    # -- policy answers -------------------------------------------------------------------------

    def ask(
        self, action: Operation, processing: str, destination: str | None = None, resource_geo: str | None = None
    ) -> PolicyDecision:
        request = PolicyRequest(
            action=action,
            asset=self.asset,
            context=self.s.app.spec.app_info,
            processing_geography=processing,
            destination=destination,
            resource_geography=resource_geo,
        )
        answer = self.s.decide(request)
        if isinstance(answer, Failure):
            raise Stop(answer)
        problems = [] if answer.denied else action_problems(answer.actions, self.asset)
        if problems:
            raise Stop(Failure("InvalidPolicyAction", "; ".join(problems)))
        self.asked.append((request, answer))
        return answer

    def last_denial(self) -> str:
        request, decision = self.asked[-1]
        return self.denial_text(request, decision)

    @staticmethod
    def denial_text(request: PolicyRequest, decision: PolicyDecision) -> str:
        text = f"policy {', '.join(decision.policies)} denies {request.describe()}"
        return f"{text} ({decision.message})" if decision.message else text

    @staticmethod
    def denials_text(pairs: Sequence[tuple[PolicyRequest, PolicyDecision]]) -> list[str]:
        """One sentence per policy and question, naming every processing geography it was asked for."""
        groups: dict[tuple[object, ...], tuple[PolicyRequest, PolicyDecision, list[str]]] = {}
        for request, decision in pairs:
            if not decision.denied:
                continue
            copy_geo = request.geography if request.geography != request.asset.geography else None
            key = (tuple(decision.policies), request.action, copy_geo, request.destination, decision.message)
            places = groups.setdefault(key, (request, decision, []))[2]
            if request.processing_geography and request.processing_geography not in places:
                places.append(request.processing_geography)
        out = []
        for request, decision, places in groups.values():
            text = f"policy {', '.join(decision.policies)} denies {request.describe(' or '.join(places) or None)}"
            out.append(f"{text} ({decision.message})" if decision.message else text)
        return out

    def norm(self, actions: Sequence[DecidedAction]) -> list[DecidedAction]:
        return normalize(actions, self.columns)

    def decided(self, flow: str, geography: str | None, decision: PolicyDecision, note: str | None = None) -> None:
        """Record a decision for the status, its actions merged and ordered as they are enforced."""
        self.rec.decided(flow, geography, decision.model_copy(update={"actions": self.norm(decision.actions)}), note)

    # -- building the plan ----------------------------------------------------------------------

    def step(
        self,
        suffix: str,
        cluster: MemberCluster,
        module: M4DModule,
        cap: ModuleCapability,
        actions: list[DecidedAction],
        source: DataStore | None = None,
        sink: DataStore | None = None,
    ) -> Step:
        serves = cap.capability in ("read", "write")
        if module.name not in self.rec.modules or (serves and self.rec.modules[module.name].api is None):
            api = cap.api if serves else None
            deployment = module.spec.deployment
            self.rec.modules[module.name] = PlotterModule(module=module.name, deployment=deployment, api=api)
        return Step(
            name=self.flow_name if suffix == self.rec.data.flow else f"{self.flow_name}-{suffix}",
            cluster=cluster.name,
            module=module.name,
            capability=cap.capability,
            source=source,
            sink=sink,
            actions=[a.action for a in actions],
            api=cap.api if serves else None,
        )

    @property
    def flow_name(self) -> str:
        return f"{slug(self.asset.id)}-{self.rec.data.flow}"

    def finish(self, steps: list[Step], message: str) -> None:
        self.rec.asset = PlotterAsset(store=self.asset.store, geography=self.asset.geography)
        self.rec.flow = PlotterFlow(name=self.flow_name, asset_id=self.asset.id, flow=self.rec.data.flow, steps=steps)
        self.rec.ready(message)

    def fail(self, what: str, copy_needed: bool) -> None:
        """No plan: Deny when governance closed every place the flow may run, else the missing piece."""
        rec, flow = self.rec, self.rec.data.flow
        direct = [(r, d) for r, d in self.asked if r.action == flow and r.resource_geography is None]
        direct_text = self.denials_text(direct)
        copy_texts = [t for t in self.denials_text(self.copy_denials) if t not in direct_text]
        copy_text = summary([*copy_texts, *(text for _, text in self.copy_blockers)])
        if direct and all(d.denied for _, d in direct):
            for request, decision in self.asked:
                if decision.denied:
                    self.decided(request.action, request.processing_geography, decision, request.describe())
            message = summary(direct_text)
            if copy_needed and copy_text and flow != "copy":
                message += f"; no copy helps: {copy_text}"
            rec.deny(message)
            return
        parts = [rec.blocked()] if rec.blockers else []
        if copy_needed and copy_text:
            parts.append(copy_text if flow == "copy" else f"no copy helps: {copy_text}")
        kinds = {kind for kind, _ in self.copy_blockers}
        storage_only = "storage" in kinds and "module" not in kinds
        rec.error("NoStorage" if storage_only else "NoModule", f"no way to {what}: {'; '.join(parts)}")

    # -- read -----------------------------------------------------------------------------------

    def read(self) -> None:
        rec, asset = self.rec, self.asset
        copy = rec.data.requirements.copy_
        copy_required = copy is not None and copy.required
        readers = self.s.with_capability("read")
        if not readers:
            rec.block("no module has the read capability")
        chosen: tuple[MemberCluster, M4DModule, ModuleCapability, list[DecidedAction], PolicyDecision] | None = None
        for cluster in prefer(self.s.workload, asset.geography):
            decision = self.ask("read", cluster.spec.region)
            if decision.denied:
                text = self.last_denial()
                rec.consider("read", "rejected", text, cluster=cluster.name)
                continue
            if copy_required:
                rec.consider(
                    "read",
                    "rejected",
                    "the application asks for a copy (requirements.copy.required)",
                    cluster=cluster.name,
                )
                continue
            actions = self.norm(decision.actions)
            for module in readers:
                cap = capability(module, "read", source=self.source, api=self.api)
                if cap is None:
                    why = f"does not read {self.source} and serve {self.api}"
                    rec.consider("read", "rejected", why, module=module.name, cluster=cluster.name)
                    rec.block(f"module {module.name} {why}")
                    continue
                missing = missing_actions(cap, [a.action for a in actions])
                if missing:
                    why = f"cannot enforce {', '.join(missing)}"
                    rec.consider("read", "rejected", why, module=module.name, cluster=cluster.name)
                    rec.block(f"module {module.name} {why}")
                    continue
                verdict: Verdict = "viable" if chosen else "chosen"
                rec.consider(
                    "read",
                    verdict,
                    f"reads {self.source}, enforces {actions_text(actions)}",
                    module=module.name,
                    cluster=cluster.name,
                )
                chosen = chosen or (cluster, module, cap, actions, decision)
        if chosen is not None:
            cluster, module, cap, actions, decision = chosen
            self.decided("read", cluster.spec.region, decision)
            rec.choose(module.name, "read", cluster.name, actions)
            step = self.step("read", cluster, module, cap, actions, source=asset.store)
            self.finish(
                [step],
                f"read by module {module.name} on cluster {cluster.name} ({cluster.spec.region}), "
                f"enforcing {actions_text(actions)}",
            )
            return
        if copy_then_read(self, readers):
            return
        self.fail(f"read {asset.id} as {self.api}", copy_needed=True)

    def write(self) -> None:
        rec, asset = self.rec, self.asset
        writers = self.s.with_capability("write")
        if not writers:
            rec.block("no module has the write capability")
        for cluster in prefer(self.s.workload, asset.geography):
            decision = self.ask("write", cluster.spec.region, destination=asset.geography)
            if decision.denied:
                rec.consider("write", "rejected", self.last_denial(), cluster=cluster.name)
                continue
            actions = self.norm(decision.actions)
            for module in writers:
                cap = capability(module, "write", sink=self.source, api=self.api)
                if cap is None:
                    why = f"does not serve {self.api} and write {self.source}"
                elif missing := missing_actions(cap, [a.action for a in actions]):
                    why = f"cannot enforce {', '.join(missing)}"
                else:
                    rec.consider(
                        "write",
                        "chosen",
                        f"writes {self.source}, enforcing {actions_text(actions)}",
                        module=module.name,
                        cluster=cluster.name,
                    )
                    self.decided("write", cluster.spec.region, decision)
                    rec.choose(module.name, "write", cluster.name, actions)
                    step = self.step("write", cluster, module, cap, actions, sink=asset.store)
                    self.finish(
                        [step],
                        f"written by module {module.name} on cluster {cluster.name}, enforcing {actions_text(actions)}",
                    )
                    return
                rec.consider("write", "rejected", why, module=module.name, cluster=cluster.name)
                rec.block(f"module {module.name} {why}")
        self.fail(f"write {asset.id} from {self.api}", copy_needed=False)

    def copy(self) -> None:
        rec = self.rec
        for copy in copies(self, prefer_geos=[c.spec.region for c in self.s.workload]):
            rec.consider(
                "copy",
                "chosen",
                f"copies {self.source} to {interface_of(copy.target)}, enforcing {actions_text(copy.actions)}",
                module=copy.module.name,
                cluster=copy.cluster.name,
                storage=copy.storage.name,
            )
            note = f"copy written to {copy.storage.spec.geography}"
            self.decided("copy", copy.cluster.spec.region, copy.decision, note)
            rec.choose(copy.module.name, "copy", copy.cluster.name, copy.actions, storage=copy.storage.name)
            step = self.step(
                "copy", copy.cluster, copy.module, copy.cap, copy.actions, source=self.asset.store, sink=copy.target
            )
            self.finish(
                [step],
                f"copied by module {copy.module.name} on cluster {copy.cluster.name} to storage "
                f"account {copy.storage.name}, enforcing {actions_text(copy.actions)}",
            )
            return
        self.fail(f"copy {self.asset.id}", copy_needed=True)

    def run(self) -> None:
        try:
            {"read": self.read, "write": self.write, "copy": self.copy}[self.rec.data.flow]()
        except Stop as stop:
            self.rec.error(stop.failure.reason, stop.failure.message, stop.failure.temporary)
