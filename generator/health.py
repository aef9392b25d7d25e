"""When a Blueprint is healthy: one rule, written twice, for us (Python) and for Argo CD (Lua).

Argo CD knows nothing about Blueprints; without a health check it calls every synced Blueprint
Healthy. The generated `bootstrap/argocd-cm-patch.yaml` gives it `BLUEPRINT_HEALTH_LUA`, and
`blueprint_health` is the same rule for the platform's own view. A test runs both on the same
statuses (Lua 5.1, the dialect of Argo CD's interpreter), so the two never disagree.

The rule, first match wins:
1. no status, or status for an older generation: Progressing (the agent has not caught up);
2. a module Failed: Degraded, naming the first failed module (by name);
3. the Ready condition True: Healthy; False with a failure reason: Degraded;
4. every module of the spec Ready or Completed: Healthy;
5. otherwise Progressing, with how many modules are ready.
"""

from __future__ import annotations

from typing import Any, Literal

Health = Literal["Healthy", "Progressing", "Degraded"]

FAILURE_REASONS = ("Failed", "Error", "Invalid")
_DONE = ("Ready", "Completed")

BLUEPRINT_HEALTH_LUA = """\
local hs = {}
local status = obj.status
local generation = obj.metadata.generation or 0
if status == nil or status.observedGeneration == nil or status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the agent to observe generation " .. generation
  return hs
end
local modules = status.modules or {}
local failed = {}
for name, state in pairs(modules) do
  if state.phase == "Failed" then
    table.insert(failed, name)
  end
end
if #failed > 0 then
  table.sort(failed)
  local message = modules[failed[1]].message or ""
  hs.status = "Degraded"
  hs.message = "Module " .. failed[1] .. " failed: " .. message
  return hs
end
if status.conditions ~= nil then
  for _, c in ipairs(status.conditions) do
    if c.type == "Ready" then
      if c.status == "True" then
        hs.status = "Healthy"
        hs.message = c.message or ""
        return hs
      end
      if c.status == "False" and (c.reason == "Failed" or c.reason == "Error" or c.reason == "Invalid") then
        hs.status = "Degraded"
        hs.message = c.message or ""
        return hs
      end
      break
    end
  end
end
local total = 0
local ready = 0
if obj.spec ~= nil and obj.spec.modules ~= nil then
  for _, m in ipairs(obj.spec.modules) do
    total = total + 1
    local state = modules[m.name]
    if state ~= nil and (state.phase == "Ready" or state.phase == "Completed") then
      ready = ready + 1
    end
  end
end
if ready == total then
  hs.status = "Healthy"
  hs.message = ready .. "/" .. total .. " modules ready"
  return hs
end
hs.status = "Progressing"
hs.message = ready .. "/" .. total .. " modules ready"
return hs
"""


def blueprint_health(obj: dict[str, Any]) -> tuple[Health, str]:
    """(health, message) of a Blueprint given as its wire dict, by the rule above."""
    status = obj.get("status")
    generation = (obj.get("metadata") or {}).get("generation") or 0
    if status is None or status.get("observedGeneration") is None or status["observedGeneration"] < generation:
        return "Progressing", f"Waiting for the agent to observe generation {generation}"
    modules: dict[str, Any] = status.get("modules") or {}
    failed = sorted(name for name, state in modules.items() if state.get("phase") == "Failed")
    if failed:
        return "Degraded", f"Module {failed[0]} failed: {modules[failed[0]].get('message') or ''}"
    for c in status.get("conditions") or []:
        if c.get("type") != "Ready":
            continue
        if c.get("status") == "True":
            return "Healthy", c.get("message") or ""
        if c.get("status") == "False" and c.get("reason") in FAILURE_REASONS:
            return "Degraded", c.get("message") or ""
        break
    names = [m["name"] for m in (obj.get("spec") or {}).get("modules") or []]
    ready = sum(1 for n in names if (modules.get(n) or {}).get("phase") in _DONE)
    return ("Healthy" if ready == len(names) else "Progressing"), f"{ready}/{len(names)} modules ready"
