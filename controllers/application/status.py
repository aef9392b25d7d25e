"""The application's status from a plan and the Plotter it produced (pure; the clock is passed in).

Per asset: the planner's conditions merged with the stored ones (a transition time only moves when a
status flips), the endpoint once the Plotter reports one. Overall: Ready when every asset is planned and
the Plotter is ready; otherwise a Ready=False condition whose reason says what is in the way.
"""

from __future__ import annotations

from datetime import datetime

from m4d.api.application import AssetState, M4DApplication, M4DApplicationStatus
from m4d.api.meta import Condition, ObjectRef, find_condition, set_condition
from m4d.api.plotter import Plotter
from m4d.controllers.application.planner import Plan

# The Plotter controller's Committed reasons that mean a pull request holds the plan (open or rejected).
REVIEW_REASONS = ("AwaitingReview", "ReviewRejected")


def _merge(old: list[Condition], new: list[Condition], generation: int | None, now: datetime) -> list[Condition]:
    out = list(old)
    for condition in new:
        out = set_condition(out, condition.model_copy(update={"observed_generation": generation}), now)
    wanted = {c.type for c in new}
    return [c for c in out if c.type in wanted]


def _overall(app: M4DApplication, plan: Plan, plotter: Plotter | None) -> Condition:
    denied = [r for r in plan.records if r.outcome == "Deny"]
    failed = [r for r in plan.records if r.outcome == "Error"]
    if failed:
        first = failed[0]
        more = f" (and {len(failed) - 1} more asset(s) in error)" if len(failed) > 1 else ""
        return Condition(
            type="Ready", status="False", reason=first.reason, message=f"asset {first.key}: {first.message}{more}"
        )
    if denied:
        first = denied[0]
        more = f" (and {len(denied) - 1} more asset(s) denied)" if len(denied) > 1 else ""
        return Condition(
            type="Ready", status="False", reason="Denied", message=f"asset {first.key}: {first.message}{more}"
        )
    if plotter is None:
        return Condition(type="Ready", status="False", reason="Pending", message="no Plotter yet")
    status = plotter.status
    committed = find_condition(status.conditions, "Committed") if status is not None else None
    if committed is not None and committed.reason in REVIEW_REASONS:
        # In review mode the plan waits for people: say where, so the user knows whom to ask.
        return Condition(
            type="Ready", status="False", reason=committed.reason, message=f"Plotter {plotter.key}: {committed.message}"
        )
    if status is None or not status.ready:
        progress = f" ({status.ready_clusters} clusters ready)" if status and status.ready_clusters else ""
        detail = ""
        if status is not None and (cond := find_condition(status.conditions, "Ready")) and cond.message:
            detail = f": {cond.message}"
        return Condition(
            type="Ready",
            status="False",
            reason="Deploying",
            message=f"Plotter {plotter.key} is not ready yet{progress}{detail}",
        )
    return Condition(type="Ready", status="True", reason="Ready", message=f"{len(plan.records)} asset(s) ready")


def application_status(app: M4DApplication, plan: Plan, plotter: Plotter | None, now: datetime) -> M4DApplicationStatus:
    previous = app.status or M4DApplicationStatus()
    generation = app.metadata.generation
    states: dict[str, AssetState] = {}
    endpoints = plotter.status.endpoints if plotter is not None and plotter.status is not None else {}
    for record in plan.records:
        state = record.state()
        old = previous.asset_states.get(record.key)
        conditions = _merge(old.conditions if old else [], state.conditions, generation, now)
        endpoint = endpoints.get(record.asset_id) if record.outcome == "Ready" else None
        states[record.key] = state.model_copy(update={"conditions": conditions, "endpoint": endpoint})
    overall = _overall(app, plan, plotter)
    conditions = _merge(previous.conditions, [overall], generation, now)
    return M4DApplicationStatus(
        observed_generation=generation,
        ready=overall.status == "True",
        conditions=conditions,
        asset_states=states,
        plotter=ObjectRef(name=plotter.name, namespace=plotter.namespace) if plotter is not None else None,
    )


def failing_since(status: M4DApplicationStatus, plan: Plan) -> datetime | None:
    """When the oldest temporary failure among the assets began (for growing retry delays)."""
    times = []
    for record in plan.records:
        state = status.asset_states.get(record.key)
        if record.temporary and state is not None:
            error = find_condition(state.conditions, "Error")
            if error is not None and error.last_transition_time is not None:
                times.append(error.last_transition_time)
    return min(times) if times else None
