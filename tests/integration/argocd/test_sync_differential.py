"""The local sync is held to Argo CD: one repository history, replayed through both, gives the same members.

One cluster folder (`clusters/edge/`) is synced twice: by the embedded default's `LocalSync` into member1
and by real Argo CD (the generated Application and AppProject, a cluster Secret naming member2 `edge`)
into member2. After every step of the history (create, change, delete, drift on the member, the last
Blueprint gone) the two members must hold the same objects, compared field by field: labels,
annotations, spec, generation (so a needless write shows), finalizers. Left out: what the server sets
(uid, resourceVersion, timestamps, managedFields) and each syncer's own bookkeeping annotation.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from m4d.api import Blueprint, MemberCluster
from m4d.api.cluster import ArgoDestination, MemberClusterSpec
from m4d.api.meta import GROUP_VERSION
from m4d.cluster.kube import KubeCluster
from m4d.cluster.local import LocalCluster
from m4d.controllers.sync.local import LocalSync
from m4d.controllers.sync.plan import MANAGED_BY_KEY, MANAGED_BY_VALUE, REVISION_ANNOTATION
from m4d.generator.argocd import app_project, cluster_application, health_check_patch
from m4d.generator.config import RenderConfig
from m4d.generator.tree import render_tree
from tests.integration.argocd.delivery import CLUSTER, Repo, synced_at, wait_application
from tests.integration.cluster.fixtures import admin_cluster
from tests.integration.generator.gitservers import git_daemon
from tests.testenv.argocd import ArgoCD
from tests.testenv.servers import TestEnv
from tests.unit.generator.plans import plotter

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

FIELD_MANAGER = "m4d-tests-drift"
# What each syncer writes for its own bookkeeping, and what the server sets: not member state.
BOOKKEEPING = {
    "kubectl.kubernetes.io/last-applied-configuration",  # Argo CD applies as `kubectl apply` does
    "argocd.argoproj.io/tracking-id",  # Argo CD's resource tracking
    REVISION_ANNOTATION,  # the local sync's applied revision
}
SERVER_SET = {"uid", "resourceVersion", "creationTimestamp", "managedFields"}


@dataclass
class Pair:
    repo: Repo
    config: RenderConfig
    cluster: MemberCluster
    namespace: str
    local: KubeCluster  # member1, synced by LocalSync
    argo: KubeCluster  # member2, synced by Argo CD
    sync: LocalSync
    argocd: ArgoCD

    @property
    def app(self) -> str:
        return str(cluster_application(self.config, self.cluster)["metadata"]["name"])

    def tree(self, plotters: list[Any]) -> dict[str, bytes]:
        result = render_tree(plotters, [self.cluster], self.config)
        assert not result.errors
        return {p: b for p, b in result.rendered.files.items() if p.startswith(f"clusters/{CLUSTER}/")}

    def both(self, files: dict[str, bytes], message: str) -> str:
        """Commit, then sync through both: the local sync's pass, Argo CD's refresh (a webhook's)."""
        revision = self.repo.commit(files, message)
        self.sync.sync_once(force=True)
        self.argocd.refresh(self.app)
        self.wait_argo(lambda app: synced_at(app, revision), f"Argo CD synced {revision[:10]}")
        return revision

    def wait_argo(self, done: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        return wait_application(self.argocd, self.app, done, what)


def _normal(doc: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in doc["metadata"].items() if k not in SERVER_SET}
    annotations = {k: v for k, v in (meta.pop("annotations", None) or {}).items() if k not in BOOKKEEPING}
    if annotations:
        meta["annotations"] = annotations
    return {**{k: v for k, v in doc.items() if k != "metadata"}, "metadata": meta}


def member_state(member: KubeCluster, namespace: str) -> dict[str, dict[str, Any]]:
    """Every Blueprint in the namespace and the namespace itself, as the server holds them, normalised."""
    out: dict[str, dict[str, Any]] = {}
    for bp in member.list(Blueprint, namespace).items:
        out[f"Blueprint/{bp.name}"] = _normal(member.manifests.get(GROUP_VERSION, "Blueprint", bp.name, namespace))
    ns = member.manifests.get("v1", "Namespace", namespace)
    out[f"Namespace/{namespace}"] = _normal({k: v for k, v in ns.items() if k in ("apiVersion", "kind", "metadata")})
    return out


def desired_specs(files: dict[str, bytes]) -> dict[str, Any]:
    """Blueprint name -> spec, as the folder says."""
    docs = [yaml.safe_load(content) for path, content in files.items() if "/blueprints/" in path]
    return {doc["metadata"]["name"]: doc["spec"] for doc in docs}


def holds(member: KubeCluster, namespace: str, wanted: dict[str, Any]) -> bool:
    """The member has every Blueprint of the folder, each with the folder's spec (drift repaired)."""
    live = {bp.name: bp for bp in member.list(Blueprint, namespace).items}
    return all(
        name in live and member.manifests.get(GROUP_VERSION, "Blueprint", name, namespace)["spec"] == spec
        for name, spec in wanted.items()
    )


def assert_same(pair: Pair, step: str) -> dict[str, dict[str, Any]]:
    local, argo = member_state(pair.local, pair.namespace), member_state(pair.argo, pair.namespace)
    assert sorted(local) == sorted(argo), f"{step}: objects differ (local sync {sorted(local)}, Argo CD {sorted(argo)})"
    for key in local:
        assert local[key] == argo[key], f"{step}: {key} differs\nlocal sync: {local[key]}\nArgo CD:    {argo[key]}"
    return argo


@pytest.fixture
def pair(argocd: ArgoCD, member_crds: None, testenv: TestEnv, tmp_path: Path) -> Iterator[Pair]:
    namespace = f"m4d-diff-{uuid.uuid4().hex[:6]}"  # members have no namespace controller to delete one
    cluster = MemberCluster.new(
        CLUSTER, spec=MemberClusterSpec(region="eu-de", destination=ArgoDestination(namespace=namespace))
    )
    hub = LocalCluster(tmp_path / "hub.db", name="hub")  # the local sync's registry: one MemberCluster
    hub.create(cluster)
    local, argo = admin_cluster(testenv.members[0]), admin_cluster(testenv.members[1])
    with git_daemon(tmp_path) as (base_url, _):
        repo = Repo(tmp_path)
        config = RenderConfig(repo_url=f"{base_url}/gitops.git")
        sync = LocalSync(repo.bare, hub, lambda name: local)
        argocd.register_cluster(CLUSTER, testenv.members[1])
        pair = Pair(repo, config, cluster, namespace, local, argo, sync, argocd)
        # As installed: the Blueprint health check in argocd-cm. No agent runs here, so every Blueprint stays
        # Progressing, and Argo CD must prune anyway.
        argocd.hub.manifests.apply(health_check_patch(config), FIELD_MANAGER)
        for obj in (app_project(config, [cluster]), cluster_application(config, cluster)):
            argocd.hub.manifests.apply(obj, FIELD_MANAGER)
        try:
            yield pair
        finally:
            argocd.forget(pair.app)
            argocd.unregister_cluster(CLUSTER)
            for member in (local, argo):
                for bp in member.list(Blueprint, namespace).items:
                    member.delete(Blueprint, bp.name, namespace)
                member.close()
            hub.close()


def test_create_change_delete_and_drift_end_in_the_same_member_state(pair: Pair) -> None:
    apps = [plotter("alpha", clusters=(CLUSTER,)), plotter("beta", clusters=(CLUSTER,), assets=2)]
    pair.both(pair.tree(apps), "create alpha and beta")
    state = assert_same(pair, "create")
    assert len([k for k in state if k.startswith("Blueprint/")]) == 2

    changed = [
        plotter("alpha", clusters=(CLUSTER,), redact=("ssn", "email")),
        apps[1],
        plotter("gamma", clusters=(CLUSTER,)),
    ]
    pair.both(pair.tree(changed), "change alpha, add gamma")
    state = assert_same(pair, "change")
    assert len([k for k in state if k.startswith("Blueprint/")]) == 3

    remaining = [changed[0], changed[2]]
    revision = pair.both(pair.tree(remaining), "delete beta")
    assert_same(pair, "delete")
    wanted = desired_specs(pair.tree(remaining))

    # Drift: the same hand edits on both members, then each syncer's self-heal.
    blueprints = {
        m: sorted(m.list(Blueprint, pair.namespace).items, key=lambda b: b.name) for m in (pair.local, pair.argo)
    }
    for member, (edited, removed) in blueprints.items():
        edited.spec.modules[0].assets[0].actions = []  # a transformation dropped by hand
        edited.metadata.labels["team"] = "ops"  # a label someone added
        member.update(edited)
        member.delete(Blueprint, removed.name, pair.namespace)
        for name, labels in (("stray-managed", {MANAGED_BY_KEY: MANAGED_BY_VALUE}), ("stray", {})):
            stray = Blueprint.new(name, pair.namespace, spec=edited.spec.model_copy(deep=True))
            stray.metadata.labels = labels
            member.create(stray)
    pair.sync.sync_once(force=True)
    pair.wait_argo(lambda app: synced_at(app, revision) and holds(pair.argo, pair.namespace, wanted), "self-heal")
    state = assert_same(pair, "drift")
    assert {"Blueprint/stray", "Blueprint/stray-managed"} <= set(state)

    pair.both(pair.tree([]), "the last Blueprint goes")
    state = assert_same(pair, "empty")
    assert {k for k in state if k.startswith("Blueprint/")} == {"Blueprint/stray", "Blueprint/stray-managed"}
