"""The generated Blueprint health check, loaded through `argocd-cm`, as real Argo CD applies it.

A Blueprint is delivered to a member by the generated Application; its status is then written as the
member's agent would write it, and Argo CD's verdict (the resource's health in the Application's status,
and the Application's own) must follow: Progressing until the agent observed the generation, Healthy
once every module is ready, Degraded when a module failed, each with the message the rule gives
(the same rule as `blueprint_health`, the platform's own view).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from m4d.api import Blueprint, MemberCluster
from m4d.api.blueprint import BlueprintStatus, ModuleState
from m4d.api.cluster import ArgoDestination, MemberClusterSpec
from m4d.api.meta import Condition
from m4d.cluster.kube import KubeCluster
from m4d.generator.argocd import app_project, cluster_application, health_check_patch
from m4d.generator.config import RenderConfig
from m4d.generator.health import blueprint_health
from m4d.generator.tree import render_tree
from tests.integration.argocd.delivery import CLUSTER, Repo, synced_at, wait_application
from tests.integration.cluster.fixtures import admin_cluster
from tests.integration.generator.gitservers import git_daemon
from tests.testenv.argocd import ArgoCD
from tests.testenv.servers import TestEnv
from tests.unit.generator.plans import plotter

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

FIELD_MANAGER = "m4d-tests-health"
AGENT = "agent-edge"
TIMEOUT = 90.0


@dataclass
class Delivered:
    argocd: ArgoCD
    member: KubeCluster
    app: str
    blueprint: Blueprint

    def verdict(self) -> tuple[str, str, str]:
        """(the Blueprint's health, its message, the Application's health) as Argo CD reports them."""
        status = (self.argocd.application(self.app) or {}).get("status") or {}
        resource = next((r for r in status.get("resources") or [] if r.get("kind") == "Blueprint"), {})
        health = resource.get("health") or {}
        return health.get("status", ""), health.get("message", ""), (status.get("health") or {}).get("status", "")

    def wait_for(self, health: str, message: str) -> None:
        """Until Argo CD judges the Blueprint `health` with `message`, and the Application `health` with it."""
        deadline = time.monotonic() + TIMEOUT
        while (seen := self.verdict()) != (health, message, health):
            self.argocd.check_running()
            if time.monotonic() > deadline:
                raise AssertionError(f"Argo CD says {seen}, wanted {health!r}, {message!r}\n{self.argocd.log_tails()}")
            time.sleep(0.2)

    def report(self, status: BlueprintStatus) -> dict[str, Any]:
        """Write the Blueprint's status as its agent does; the wire form, for the platform's own rule."""
        live = self.member.get(Blueprint, self.blueprint.name, self.blueprint.metadata.namespace)
        live.status = status
        stored = self.member.update_status(live)
        return stored.wire()


@pytest.fixture
def delivered(argocd: ArgoCD, member_crds: None, testenv: TestEnv, tmp_path: Path) -> Iterator[Delivered]:
    cluster = MemberCluster.new(
        CLUSTER, spec=MemberClusterSpec(region="eu-de", destination=ArgoDestination(namespace="m4d-health"))
    )
    member = admin_cluster(testenv.members[0])
    with git_daemon(tmp_path) as (base_url, _):
        config = RenderConfig(repo_url=f"{base_url}/gitops.git")
        argocd.hub.manifests.apply(health_check_patch(config), FIELD_MANAGER)  # bootstrap/argocd-cm-patch.yaml
        argocd.register_cluster(CLUSTER, testenv.members[0])
        rendered = render_tree([plotter("health", clusters=(CLUSTER,), assets=2)], [cluster], config)
        repo = Repo(tmp_path)
        revision = repo.commit(dict(rendered.rendered.files), "one Blueprint")
        application = cluster_application(config, cluster)
        for obj in (app_project(config, [cluster]), application):
            argocd.hub.manifests.apply(obj, FIELD_MANAGER)
        app = application["metadata"]["name"]
        wait_application(argocd, app, lambda a: synced_at(a, revision), f"Argo CD synced {revision[:10]}")
        (bp,) = member.list(Blueprint, "m4d-health").items
        try:
            yield Delivered(argocd, member, app, bp)
        finally:
            argocd.forget(app)
            argocd.unregister_cluster(CLUSTER)
            member.close()


def _modules(bp: Blueprint, phase: str, message: str | None = None) -> dict[str, ModuleState]:
    return {m.name: ModuleState(phase=phase, message=message) for m in bp.spec.modules}  # type: ignore[arg-type]


def test_health_follows_the_blueprint_state(delivered: Delivered) -> None:
    bp = delivered.blueprint
    generation = bp.metadata.generation or 1
    # Delivered, not yet seen by an agent.
    assert blueprint_health(bp.wire()) == ("Progressing", f"Waiting for the agent to observe generation {generation}")
    delivered.wait_for(*blueprint_health(bp.wire()))

    # Still Progressing: with the install's `ignoreResourceUpdates` for /status, Argo CD looks again at a
    # Blueprint whose status changed only when its health status changes, so the message may lag.
    wire = delivered.report(BlueprintStatus(observed_generation=generation, modules=_modules(bp, "Pending")))
    assert blueprint_health(wire) == ("Progressing", f"0/{len(bp.spec.modules)} modules ready")

    ready = Condition(type="Ready", status="True", reason="Ready", message="all modules ready")
    wire = delivered.report(
        BlueprintStatus(observed_generation=generation, modules=_modules(bp, "Ready"), conditions=[ready])
    )
    assert blueprint_health(wire) == ("Healthy", "all modules ready")
    delivered.wait_for(*blueprint_health(wire))

    failed = _modules(bp, "Ready")
    name = sorted(failed)[0]
    failed[name] = ModuleState(phase="Failed", message="cannot open s3://data/a0.parquet")
    wire = delivered.report(BlueprintStatus(observed_generation=generation, modules=failed, conditions=[ready]))
    assert blueprint_health(wire) == ("Degraded", f"Module {name} failed: cannot open s3://data/a0.parquet")
    delivered.wait_for(*blueprint_health(wire))
