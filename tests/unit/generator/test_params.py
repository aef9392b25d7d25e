from __future__ import annotations

import pytest

from m4d.api.common import Connection, DataStore
from m4d.api.plotter import PlotterFlow, PlotterModule, Step
from m4d.errors import InvalidError
from m4d.generator.params import plotter_params
from m4d.generator.tree import by_name
from tests.unit.generator.plans import FLIGHT, members, plotter, s3_store


def test_steps_of_one_module_on_one_cluster_make_one_instance_with_several_assets() -> None:
    plan = plotter(clusters=("member2", "member1"), assets=3)
    params = plotter_params(plan, by_name(members(2)))
    assert [p.cluster for p in params] == ["member1", "member2"]
    for p in params:
        assert len(p.modules) == 1
        assert [a.asset_id for a in p.modules[0].assets] == ["catalog/a0", "catalog/a1", "catalog/a2"]
        assert p.modules[0].name == "read-module"
        assert p.namespace == "m4d-blueprints"
        assert p.plotter == "default/app"


def test_each_module_template_is_its_own_instance_in_plan_order() -> None:
    plan = plotter(clusters=("member1",))
    plan.spec.modules["Copy Module"] = PlotterModule(
        module="m4d-system/copy", deployment=plan.spec.modules["read-module"].deployment
    )
    plan.spec.flows.insert(
        0,
        PlotterFlow(
            name="copy",
            asset_id="catalog/a0",
            flow="copy",
            steps=[
                Step(
                    name="copy",
                    cluster="member1",
                    module="Copy Module",
                    capability="copy",
                    source=s3_store("data", "a0.parquet"),
                    sink=s3_store("copies", "a0.parquet"),
                    api=FLIGHT,
                )
            ],
        ),
    )
    (params,) = plotter_params(plan, by_name(members(1)))
    assert [m.module for m in params.modules] == ["m4d-system/copy", "m4d-system/arrow-flight-module"]
    assert params.modules[0].name.startswith("copy-module-")
    assert params.modules[0].assets[0].sink is not None


def test_unknown_clusters_and_modules_are_named_with_their_field() -> None:
    plan = plotter(clusters=("member1", "nowhere"))
    plan.spec.flows[0].steps[0].module = "missing"
    with pytest.raises(InvalidError) as info:
        plotter_params(plan, by_name(members(1)))
    fields = {e.path: e.message for e in info.value.errors}
    assert "no module 'missing'" in fields["spec.flows[0].steps[0].module"]
    assert "cluster 'nowhere' is not a MemberCluster (known: member1)" in fields["spec.flows[0].steps[1].cluster"]


@pytest.mark.parametrize("key", ["password", "secretAccessKey", "token", "api_key", "privateKey"])
def test_credentials_inline_in_a_connection_are_refused(key: str) -> None:
    plan = plotter()
    plan.spec.flows[0].steps[0].source = DataStore(connection=Connection(kind="s3", properties={key: "hunter2"}))
    with pytest.raises(InvalidError) as info:
        plotter_params(plan, by_name(members(1)))
    assert "credentialRef" in str(info.value)
    assert "hunter2" not in str(info.value)
