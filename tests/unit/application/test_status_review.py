"""The application's Ready condition while its plan waits in a pull request (controllers/application/status.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from m4d.api.meta import Condition, find_condition
from m4d.api.plotter import PlotterStatus
from m4d.controllers.application.planner import Plan
from m4d.controllers.application.status import application_status
from tests.unit.generator.plans import plotter
from tests.unit.generator.test_pull_request import application

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def with_committed(reason: str, message: str) -> PlotterStatus:
    condition = Condition(type="Committed", status="False", reason=reason, message=message)
    return PlotterStatus(conditions=[condition])


def test_awaiting_review_and_rejected_name_the_pull_request() -> None:
    app = application()
    plan = Plan(records=[], plotter=None, keep_plotter=True)
    plan_obj = plotter("app")
    for reason in ("AwaitingReview", "ReviewRejected"):
        plan_obj.status = with_committed(reason, "pull request https://git.example/r/pulls/4 ...")
        status = application_status(app, plan, plan_obj, NOW)
        ready = find_condition(status.conditions, "Ready")
        assert ready is not None and (ready.status, ready.reason) == ("False", reason)
        assert "https://git.example/r/pulls/4" in ready.message and "default/app" in ready.message
    plan_obj.status = with_committed("Committed", "in revision abc")
    ready = find_condition(application_status(app, plan, plan_obj, NOW).conditions, "Ready")
    assert ready is not None and ready.reason == "Deploying"
