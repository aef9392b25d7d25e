"""The Lua health check Argo CD runs and our Python rule give the same answer on the same Blueprint."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from lupa import lua51

from m4d.generator.health import BLUEPRINT_HEALTH_LUA, blueprint_health

_NAMES = ["read", "copy", "write"]
_phase = st.sampled_from(["Pending", "Ready", "Failed", "Completed"])
_condition = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["Ready", "Other"]),
        "status": st.sampled_from(["True", "False", "Unknown"]),
        "reason": st.sampled_from(["Failed", "Error", "Invalid", "Waiting", ""]),
        "message": st.sampled_from(["", "all good", "boom"]),
    }
)
_status = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {
            "observedGeneration": st.one_of(st.none(), st.integers(1, 3)),
            "conditions": st.lists(_condition, max_size=3),
            "modules": st.dictionaries(
                st.sampled_from(_NAMES),
                st.fixed_dictionaries({"phase": _phase, "message": st.sampled_from(["", "oom"])}),
                max_size=3,
            ),
        }
    ),
)
_blueprint = st.builds(
    lambda generation, names, status: {
        "metadata": {"name": "bp", "generation": generation},
        "spec": {"modules": [{"name": n} for n in names]},
        **({"status": {k: v for k, v in status.items() if v is not None}} if status else {}),
    },
    st.integers(1, 3),
    st.lists(st.sampled_from(_NAMES), unique=True, max_size=3),
    _status,
)


def _to_lua(lua: Any, value: Any) -> Any:
    if isinstance(value, dict):
        return lua.table_from({k: _to_lua(lua, v) for k, v in value.items()})
    if isinstance(value, list):
        return lua.table_from([_to_lua(lua, v) for v in value])
    return value


_LUA = lua51.LuaRuntime(unpack_returned_tuples=True)
_CHECK = _LUA.eval(f"function(obj)\n{BLUEPRINT_HEALTH_LUA}\nend")


def _argocd_health(obj: dict[str, Any]) -> tuple[str, str]:
    hs = _CHECK(_to_lua(_LUA, obj))
    return hs["status"], hs["message"]


@settings(max_examples=150, deadline=None)
@given(_blueprint)
def test_lua_and_python_agree(obj: dict[str, Any]) -> None:
    assert _argocd_health(obj) == blueprint_health(obj)


def test_the_rule_on_plain_cases() -> None:
    fresh = {"metadata": {"generation": 2}, "spec": {"modules": [{"name": "read"}]}}
    assert blueprint_health(fresh)[0] == "Progressing"
    stale = {**fresh, "status": {"observedGeneration": 1, "modules": {"read": {"phase": "Ready"}}}}
    assert blueprint_health(stale)[0] == "Progressing"
    ready = {**fresh, "status": {"observedGeneration": 2, "modules": {"read": {"phase": "Ready"}}}}
    assert blueprint_health(ready) == ("Healthy", "1/1 modules ready")
    failed = {**fresh, "status": {"observedGeneration": 2, "modules": {"read": {"phase": "Failed", "message": "oom"}}}}
    assert blueprint_health(failed) == ("Degraded", "Module read failed: oom")
    for obj in (fresh, stale, ready, failed):
        assert _argocd_health(obj) == blueprint_health(obj)
