"""A module instance's state from what its member cluster reports (pure: objects in, ModuleState out).

On a Kubernetes member the agent runs nothing itself: the cluster's controllers and nodes run the
workload, and this reads their verdict —

- a Deployment is Ready once its rollout is complete for the current generation: `observedGeneration`
  caught up, every replica updated and available, no old replica left (what `kubectl rollout status`
  waits for), and `Available` True; `Progressing` False (ProgressDeadlineExceeded) is Failed;
- a Job is Completed when its `Complete` condition is True and Failed when its `Failed` condition is;
- meanwhile its pods say why it waits: a container that cannot start or keeps crashing
  (CrashLoopBackOff, ImagePullBackOff, CreateContainerConfigError, ...) makes the module Failed with the
  pod's reason and message — the cluster keeps retrying, and the state follows when it recovers.
"""

from __future__ import annotations

from typing import Any

from m4d.api.blueprint import ModuleState
from m4d.api.common import Endpoint

Manifest = dict[str, Any]

# Waiting reasons that will not clear by themselves: the workload's spec or image must change.
STUCK = {
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}
MESSAGE_LIMIT = 1000


def _condition(obj: Manifest, kind: str) -> Manifest:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return {}


def _container_problem(pod_name: str, status: Manifest) -> tuple[str, bool] | None:
    """(what is wrong with one container, whether it is stuck), or None when nothing is."""
    name = status.get("name")
    waiting = (status.get("state") or {}).get("waiting") or {}
    last = (status.get("lastState") or {}).get("terminated") or {}
    terminated = (status.get("state") or {}).get("terminated") or {}
    reason = waiting.get("reason")
    if reason and reason not in ("ContainerCreating", "PodInitializing"):
        text = f"pod {pod_name}: container {name} {reason}"
        if waiting.get("message"):
            text += f": {waiting['message']}"
        ended = last or terminated
        if ended:
            text += f" (last exit code {ended.get('exitCode')}"
            text += f": {str(ended['message']).strip()})" if ended.get("message") else ")"
        return text, reason in STUCK
    if terminated and terminated.get("exitCode") not in (0, None):
        text = f"pod {pod_name}: container {name} exited {terminated.get('exitCode')} ({terminated.get('reason')})"
        if terminated.get("message"):
            text += f": {str(terminated['message']).strip()}"
        return text, False
    return None


def pod_problems(pods: list[Manifest]) -> tuple[list[str], bool]:
    """What the pods report as wrong (newest first), and whether any of it is stuck."""
    problems: list[str] = []
    stuck = False
    for pod in sorted(pods, key=lambda p: str(p["metadata"].get("creationTimestamp") or ""), reverse=True):
        status = pod.get("status") or {}
        name = pod["metadata"]["name"]
        if status.get("phase") == "Pending" and not status.get("containerStatuses"):
            scheduled = _condition(pod, "PodScheduled")
            if scheduled.get("status") == "False":
                problems.append(f"pod {name}: not scheduled: {scheduled.get('message') or scheduled.get('reason')}")
            continue
        for container in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
            found = _container_problem(name, container)
            if found is not None:
                problems.append(found[0])
                stuck = stuck or found[1]
    return problems, stuck


def _restarts(pods: list[Manifest]) -> int:
    return sum(
        int(c.get("restartCount") or 0) for p in pods for c in (p.get("status") or {}).get("containerStatuses") or []
    )


def _message(parts: list[str]) -> str | None:
    text = "; ".join(p for p in parts if p)
    return text[:MESSAGE_LIMIT] if text else None


def deployment_state(deployment: Manifest, pods: list[Manifest], endpoint: Endpoint | None) -> ModuleState:
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    wanted = int(spec.get("replicas", 1))
    restarts = _restarts(pods)
    current = status.get("observedGeneration") == (deployment.get("metadata") or {}).get("generation")
    progressing = _condition(deployment, "Progressing")
    if current and progressing.get("status") == "False":
        stalled = f"Deployment {progressing.get('reason')}: {progressing.get('message')}"
        message = _message([stalled, *pod_problems(pods)[0]])
        return ModuleState(phase="Failed", message=message, restarts=restarts)
    rolled_out = (
        current
        and int(status.get("updatedReplicas") or 0) == wanted
        and int(status.get("replicas") or 0) == wanted
        and int(status.get("availableReplicas") or 0) >= wanted
        and _condition(deployment, "Available").get("status") == "True"
    )
    if rolled_out:
        return ModuleState(phase="Ready", endpoint=endpoint, restarts=restarts)
    problems, stuck = pod_problems(pods)
    if stuck:
        return ModuleState(phase="Failed", message=_message(problems), restarts=restarts)
    ready = int(status.get("readyReplicas") or 0)
    waiting = f"rolling out: {ready} of {wanted} replica(s) ready" if current else "rollout not yet observed"
    return ModuleState(phase="Pending", message=_message([waiting, *problems]), restarts=restarts)


def job_state(job: Manifest, pods: list[Manifest]) -> ModuleState:
    restarts = _restarts(pods)
    complete, failed = _condition(job, "Complete"), _condition(job, "Failed")
    problems, stuck = pod_problems(pods)
    if complete.get("status") == "True":
        return ModuleState(phase="Completed", restarts=restarts)
    if failed.get("status") == "True":
        message = _message([f"Job {failed.get('reason')}: {failed.get('message')}", *problems])
        return ModuleState(phase="Failed", message=message, restarts=restarts)
    if stuck:
        return ModuleState(phase="Failed", message=_message(problems), restarts=restarts)
    active = int((job.get("status") or {}).get("active") or 0)
    return ModuleState(phase="Pending", message=_message([f"job running ({active} active pod(s))", *problems]))
