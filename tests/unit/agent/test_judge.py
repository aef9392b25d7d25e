"""A module's state from what its cluster reports: Deployment rollouts, Job conditions, pod reasons."""

from __future__ import annotations

from typing import Any

from m4d.api.common import Endpoint
from m4d.controllers.agent.judge import deployment_state, job_state

ENDPOINT = Endpoint(protocol="fybrik-arrow-flight", hostname="x.m4d-blueprints.svc.cluster.local", port=8080)


def deployment(generation: int = 2, observed: int = 2, **status: Any) -> dict[str, Any]:
    conditions = status.pop("conditions", [{"type": "Available", "status": "True"}])
    return {
        "metadata": {"name": "x", "generation": generation},
        "spec": {"replicas": 1},
        "status": {"observedGeneration": observed, "conditions": conditions, **status},
    }


ROLLED_OUT = {"replicas": 1, "updatedReplicas": 1, "availableReplicas": 1, "readyReplicas": 1}


def pod(name: str = "x-1", created: str = "2026-01-01T00:00:00Z", **container: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "status": {"phase": "Running", "containerStatuses": [{"name": "main", "restartCount": 0, **container}]},
    }


def test_a_deployment_is_ready_only_when_rolled_out_for_its_current_generation() -> None:
    assert deployment_state(deployment(**ROLLED_OUT), [pod()], ENDPOINT).phase == "Ready"
    assert deployment_state(deployment(**ROLLED_OUT), [pod()], ENDPOINT).endpoint == ENDPOINT
    stale = deployment_state(deployment(observed=1, **ROLLED_OUT), [pod()], ENDPOINT)
    assert (stale.phase, stale.endpoint) == ("Pending", None)
    rolling = deployment_state(deployment(**{**ROLLED_OUT, "replicas": 2}), [pod()], ENDPOINT)  # an old pod left
    assert rolling.phase == "Pending" and "1 of 1 replica(s) ready" in (rolling.message or "")
    unavailable = deployment_state(
        deployment(conditions=[{"type": "Available", "status": "False"}], **ROLLED_OUT), [pod()], ENDPOINT
    )
    assert unavailable.phase == "Pending"


def test_pods_that_cannot_run_fail_the_module_with_their_reason() -> None:
    crashing = pod(
        restartCount=3,
        state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 20s restarting failed container"}},
        lastState={"terminated": {"exitCode": 2, "reason": "Error", "message": "bad config: listen.port\n"}},
    )
    state = deployment_state(deployment(replicas=1, updatedReplicas=1), [crashing], ENDPOINT)
    assert state.phase == "Failed" and state.restarts == 3
    assert state.message == (
        "pod x-1: container main CrashLoopBackOff: back-off 20s restarting failed container "
        "(last exit code 2: bad config: listen.port)"
    )
    pulling = pod(state={"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "m:1"'}})
    assert "ImagePullBackOff" in (deployment_state(deployment(), [pulling], ENDPOINT).message or "")
    creating = pod(state={"waiting": {"reason": "ContainerCreating"}})
    assert deployment_state(deployment(), [creating], ENDPOINT).phase == "Pending"


def test_a_stalled_rollout_is_failed() -> None:
    stalled = deployment(
        conditions=[{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "slow"}]
    )
    state = deployment_state(stalled, [], ENDPOINT)
    assert (state.phase, state.message) == ("Failed", "Deployment ProgressDeadlineExceeded: slow")


def test_jobs_follow_their_conditions() -> None:
    done = {"status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    assert job_state(done, []).phase == "Completed"
    failed = {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                         "message": "Job has reached the specified backoff limit"}]}}  # fmt: skip
    ended = pod(state={"terminated": {"exitCode": 1, "reason": "Error", "message": "source not found"}})
    state = job_state(failed, [ended])
    assert state.phase == "Failed"
    assert state.message == (
        "Job BackoffLimitExceeded: Job has reached the specified backoff limit; "
        "pod x-1: container main exited 1 (Error): source not found"
    )
    running = job_state({"status": {"active": 1}}, [pod(state={"running": {}})])
    assert (running.phase, running.message) == ("Pending", "job running (1 active pod(s))")
