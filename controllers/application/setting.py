"""What the flow planner works with for one application, and how it words what it found."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from m4d.api.application import Consideration, M4DApplication
from m4d.api.cluster import MemberCluster
from m4d.api.common import Capability
from m4d.api.module import M4DModule
from m4d.api.storage import M4DStorageAccount
from m4d.connectors.policy.model import DecidedAction, PolicyDecision, PolicyRequest
from m4d.controllers.application.candidates import Failure, describe_action, has_capability

Decide = Callable[[PolicyRequest], PolicyDecision | Failure]
AnswerKey = tuple[str, str, str, str, str]  # PolicyRequest.key()

NOT_ASKED = "PolicyNotAsked"


@dataclass
class Answers:
    """The policy manager's answers gathered before planning (a lookup, no I/O). A question without an
    answer is noted in `unanswered` and stops that asset's planning: the controller asks it and plans again."""

    known: Mapping[AnswerKey, PolicyDecision | Failure]
    unanswered: dict[AnswerKey, PolicyRequest] = field(default_factory=dict)

    def __call__(self, request: PolicyRequest) -> PolicyDecision | Failure:
        key = request.key()
        answer = self.known.get(key)
        if answer is None:
            self.unanswered.setdefault(key, request)
            return Failure(NOT_ASKED, f"the policy manager was not asked about {request.describe()}", temporary=True)
        return answer


@dataclass
class Setting:
    """Everything the planner may use for one application, already filtered and sorted."""

    app: M4DApplication
    decide: Decide
    modules: list[M4DModule]
    clusters: list[MemberCluster]
    storage: list[M4DStorageAccount]
    workload: list[MemberCluster]  # where a module serving the workload may run
    notes: list[Consideration] = field(default_factory=list)

    def with_capability(self, kind: Capability) -> list[M4DModule]:
        return [m for m in self.modules if has_capability(m, kind)]


class Stop(Exception):
    """A policy answer could not be had: the asset's outcome is this failure."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def summary(texts: Sequence[str], limit: int = 5) -> str:
    unique = list(dict.fromkeys(texts))
    more = len(unique) - limit
    return "; ".join(unique[:limit]) + (f"; and {more} more (m4d explain shows all)" if more > 0 else "")


def actions_text(actions: Sequence[DecidedAction]) -> str:
    return ", ".join(describe_action(a.action) for a in actions) or "no actions"
