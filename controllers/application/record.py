"""What the planner found for one asset: outcome, decisions, module choices and every consideration.

The record becomes the asset's status (`AssetState`): conditions Ready / Deny / Error with a reason and
a message a user can act on, the policy decisions and module choices behind the plan, and the
explanation `m4d explain` prints. Conditions carry no timestamps here; the controller merges them with
the stored ones so unchanged outcomes keep their transition times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from m4d.api.application import AssetState, Consideration, DataContext, Decision, ModuleChoice, Verdict
from m4d.api.meta import Condition
from m4d.api.plotter import PlotterAsset, PlotterFlow, PlotterModule
from m4d.connectors.policy.model import DecidedAction, PolicyDecision

Outcome = Literal["Ready", "Deny", "Error"]

MAX_CONSIDERATIONS = 200
MAX_BLOCKERS = 5


@dataclass
class AssetRecord:
    key: str
    index: int
    data: DataContext
    considerations: list[Consideration] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    choices: list[ModuleChoice] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)
    outcome: Outcome | None = None
    reason: str = ""
    message: str = ""
    temporary: bool = False
    asset: PlotterAsset | None = None
    flow: PlotterFlow | None = None
    modules: dict[str, PlotterModule] = field(default_factory=dict)
    _considered: set[tuple[object, ...]] = field(default_factory=set, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._considered = {(c.step, c.module, c.cluster, c.storage, c.verdict, c.reason) for c in self.considerations}

    @property
    def asset_id(self) -> str:
        return self.data.data_set_id

    # -- while planning -------------------------------------------------------------------------

    def consider(
        self,
        step: str,
        verdict: Verdict,
        reason: str = "",
        *,
        module: str | None = None,
        cluster: str | None = None,
        storage: str | None = None,
    ) -> None:
        key = (step, module, cluster, storage, verdict, reason)
        if key in self._considered:  # a set: a record weighs every member, hundreds of candidates with 50
            return
        self._considered.add(key)
        self.considerations.append(
            Consideration(step=step, module=module, cluster=cluster, storage=storage, verdict=verdict, reason=reason)
        )

    def block(self, summary: str) -> None:
        """Note why a path is closed, in words that do not depend on the cluster (so they de-duplicate)."""
        if summary not in self.blockers:
            self.blockers.append(summary)

    def blocked(self) -> str:
        shown = self.blockers[:MAX_BLOCKERS]
        more = len(self.blockers) - len(shown)
        return "; ".join(shown) + (f"; and {more} more (m4d explain shows all)" if more else "")

    def decided(self, flow: str, geography: str | None, decision: PolicyDecision, note: str | None = None) -> None:
        entry = Decision.model_validate(
            {
                "flow": flow,
                "geography": geography,
                "actions": [a.action for a in decision.actions],
                "denied": decision.denied,
                "policy": ", ".join(decision.policies) or None,
                "message": decision.message or note,
            }
        )
        if entry not in self.decisions:
            self.decisions.append(entry)

    def choose(
        self, module: str, capability: str, cluster: str, actions: list[DecidedAction], storage: str | None = None
    ) -> None:
        names = [a.action.name for a in actions]
        self.choices.append(
            ModuleChoice(module=module, capability=capability, cluster=cluster, actions=names, storage=storage)
        )

    # -- outcomes -------------------------------------------------------------------------------

    def ready(self, message: str) -> None:
        self.outcome, self.reason, self.message = "Ready", "Planned", message

    def deny(self, message: str) -> None:
        self.outcome, self.reason, self.message = "Deny", "Denied", message

    def error(self, reason: str, message: str, temporary: bool = False) -> None:
        self.outcome, self.reason, self.message, self.temporary = "Error", reason, message, temporary

    def conditions(self) -> list[Condition]:
        out = []
        for kind in ("Ready", "Deny", "Error"):
            on = self.outcome == kind
            if kind == "Ready" or on:
                status = "True" if on else "False"
                out.append(Condition(type=kind, status=status, reason=self.reason, message=self.message))
            else:
                out.append(Condition(type=kind, status="False"))
        return out

    def state(self) -> AssetState:
        shown = self.considerations[:MAX_CONSIDERATIONS]
        if len(self.considerations) > MAX_CONSIDERATIONS:
            rest = len(self.considerations) - MAX_CONSIDERATIONS
            shown.append(Consideration(step="more", verdict="ignored", reason=f"{rest} more considerations not kept"))
        return AssetState(
            conditions=self.conditions(), decisions=self.decisions, modules=self.choices, explanation=shown
        )
