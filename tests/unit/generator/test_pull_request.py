"""The review description (generator/pull_request.py), a pure function of the change and the applications."""

from __future__ import annotations

from m4d.api.application import (
    AppInfo,
    AssetState,
    DataContext,
    DataRequirements,
    Decision,
    M4DApplication,
    M4DApplicationSpec,
    M4DApplicationStatus,
)
from m4d.api.common import Action, Interface
from m4d.generator.changes import plotter_ref
from m4d.generator.pull_request import describe
from m4d.generator.tree import by_name, render_plotter
from tests.unit.generator.plans import members, plotter


def application(name: str = "app") -> M4DApplication:
    data = DataContext.model_validate(
        {"dataSetID": "catalog/a0", "flow": "read", "requirements": {"interface": {"protocol": "fybrik-arrow-flight"}}}
    )
    assert isinstance(data.requirements, DataRequirements) and isinstance(data.requirements.interface, Interface)
    app = M4DApplication.new(
        name,
        "default",
        spec=M4DApplicationSpec(app_info=AppInfo(intent="Fraud Detection", role="Analyst"), data=[data]),
    )
    decision = Decision(
        flow="read", actions=[Action(name="RedactColumn", columns=["ssn", "email"])], policy="redact-pii"
    )
    app.status = M4DApplicationStatus(asset_states={"catalog/a0": AssetState(decisions=[decision])})
    return app


def link(ref: str, path: str) -> str:
    return f"https://git.example/r/src/branch/{ref}/{path}"


def files(name: str, clusters: tuple[str, ...], redact: tuple[str, ...] = ("ssn",)) -> dict[str, bytes]:
    return render_plotter(plotter(name, clusters=clusters, redact=redact), by_name(members(3))).files


def test_a_reviewer_sees_intent_decisions_modules_and_moves() -> None:
    before = files("app", ("member1",))
    after = files("app", ("member2",))
    edits: dict[str, bytes | None] = {**dict.fromkeys(before), **after}
    ref = plotter_ref(plotter("app", generation=3))
    body = describe("Update default/app", edits, before, {"default/app": application()}, [ref], "rv/1", "main", link)
    assert "intent **Fraud Detection**, role **Analyst**" in body
    assert "| catalog/a0 | read | fybrik-arrow-flight | RedactColumn | ssn, email | redact-pii |" in body
    assert "Plotter `default/app`, generation 3" in body
    (added,) = after
    (removed,) = before
    assert f"]({link('rv/1', added)})" in body and f"]({link('main', removed)})" in body
    assert "added Blueprint on member2" in body and "removed Blueprint on member1" in body
    assert "moved **m4d-system/arrow-flight-module**" in body and "from member1 to member2" in body
    assert "read catalog/a0: RedactColumn(ssn)" in body
    assert body == describe(
        "Update default/app", edits, before, {"default/app": application()}, [ref], "rv/1", "main", link
    )


def test_updated_blueprint_and_missing_decisions() -> None:
    before = files("app", ("member1",))
    after = files("app", ("member1",), redact=("phone",))
    app = application()
    app.status = None
    body = describe("Update", dict(after), before, {"default/app": app}, [], "rv/1", "main", lambda r, p: None)
    assert "updated Blueprint on member1: modules or their work changed" in body
    assert "_not recorded yet_" in body and "](" not in body


def test_a_large_change_is_bounded_with_a_summary() -> None:
    edits: dict[str, bytes | None] = {}
    apps = {}
    for i in range(60):
        edits.update(files(f"app{i:02d}", ("member1", "member2")))
        apps[f"default/app{i:02d}"] = application(f"app{i:02d}")
    body = describe("Sync", edits, {}, apps, [], "rv/1", "main", link, limit=8_000)
    assert len(body) <= 8_000
    assert "**60 applications**; Blueprints 120 added on 2 clusters." in body
    assert "more application(s) left out" in body and "### default/app00" in body


def test_an_asset_listed_for_two_flows_shows_each_flows_decisions() -> None:
    app = application()
    write = DataContext.model_validate(
        {"dataSetID": "catalog/a0", "flow": "write", "requirements": {"interface": {"protocol": "fybrik-arrow-flight"}}}
    )
    app.spec = app.spec.model_copy(update={"data": [*app.spec.data, write]})
    read_decision = Decision(flow="read", actions=[Action(name="RemoveColumn", columns=["ssn"])], policy="p-read")
    denied = Decision(flow="write", denied=True, policy="p-write", message="finance writes finance data")
    app.status = M4DApplicationStatus(
        asset_states={
            "catalog/a0 (read)": AssetState(decisions=[read_decision]),
            "catalog/a0 (write)": AssetState(decisions=[denied]),
        }
    )
    edits: dict[str, bytes | None] = dict(files("app", ("member1",)))
    body = describe("Update", edits, {}, {"default/app": app}, [], "rv/1", "main", link)
    assert "| catalog/a0 | read | fybrik-arrow-flight | RemoveColumn | ssn | p-read |" in body
    assert "| catalog/a0 | write | fybrik-arrow-flight | **Deny**: finance writes finance data | — | p-write |" in body
