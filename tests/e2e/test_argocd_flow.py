"""The whole flow with real Argo CD delivering the generated repository to the members.

As tests/e2e/test_kube_flow.py (the members' nodes run the modules), but nothing of the platform's own
syncs anything: the hub's controllers commit to a repository served by `git daemon`, and Argo CD,
bootstrapped the way docs/gitops.md says (cluster Secrets for the members, the generated health check
merged into `argocd-cm`, the generated root Application applied once), takes every Blueprint to its
member. A push notifies Argo CD as a Git host's webhook would (tests/testenv/gitwebhook.py). Then the
platform's own story must hold: applications Ready with endpoints, data read over Flight; and Argo CD's:
prune, self-heal, offboarding, its status in `m4d describe`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from m4d.api import Blueprint, M4DApplication, MemberCluster
from m4d.api.common import Endpoint
from m4d.api.crd import all_crds
from m4d.cluster.kube import KubeCluster
from m4d.cluster.rbac import SERVICE_ACCOUNT, member_agent_manifests, member_namespace
from m4d.credentials.app_tokens import read_token
from m4d.credentials.local import SecretsFile
from m4d.demo import services, world
from m4d.demo.reader import read_asset
from m4d.demo.verify import source_table, verify
from m4d.errors import NotFoundError
from m4d.generator.naming import argocd_application_name
from m4d.git import init_bare
from tests.e2e.test_kube_flow import (
    CAMPAIGNS,
    CONTEXTS,
    TX,
    _clean,
    _force_remove,
    _missing_crds,
    _uninstall_crds,
    agent_kubeconfig,
    settled,
)
from tests.integration.generator.gitservers import git_daemon
from tests.testenv.argocd import NAMESPACE, ArgoCD
from tests.testenv.gitwebhook import GitWebhook
from tests.testenv.servers import TestEnv
from tests.testenv.workloads import service_address

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(400)]

HEARTBEAT = 1.0
FIELD_MANAGER = "m4d-e2e-argocd"


@dataclass
class ArgoWorld:
    paths: world.DemoPaths
    kubeconfig: Path
    repo: Path  # the bare repository git daemon serves
    repo_url: str
    hub: KubeCluster
    members: dict[str, KubeCluster]
    argocd: ArgoCD
    webhook: GitWebhook

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "M4D_GITOPS_REPO": self.repo_url}

    def m4d(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "m4d.cli", "--hub", str(self.paths.hub), "--kube-context", "hub", *args],
            capture_output=True,
            text=True,
            env=self.env(),
            check=False,
        )
        assert done.returncode == 0, f"m4d {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout

    def show(self, path: str) -> str:
        return subprocess.run(
            ["git", "--git-dir", str(self.repo), "show", f"main:{path}"], capture_output=True, text=True, check=True
        ).stdout

    def files(self, prefix: str) -> list[str]:
        return subprocess.run(
            ["git", "--git-dir", str(self.repo), "ls-tree", "-r", "--name-only", "main", prefix],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()

    def head(self) -> str:
        return subprocess.run(
            ["git", "--git-dir", str(self.repo), "rev-parse", "main"], capture_output=True, text=True, check=True
        ).stdout.strip()

    def reachable(self, endpoint: Endpoint) -> Endpoint:
        """The endpoint as a client here reaches it: the Service's name resolved to a ready pod."""
        for member in self.members.values():
            try:
                host, port = service_address(member.manifests, endpoint.hostname, endpoint.port)
            except (NotFoundError, LookupError):
                continue
            return endpoint.model_copy(update={"hostname": host, "port": port})
        raise AssertionError(f"no member serves {endpoint.url}")

    def app(self, cluster: str) -> dict[str, Any]:
        return self.argocd.application(argocd_application_name(cluster)) or {}

    def wait(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            self.argocd.check_running()
            if time.monotonic() > deadline:
                logs = "\n".join(
                    f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-20:])
                    for p in sorted((self.paths.hub / "logs").glob("*.log"))
                )
                raise AssertionError(f"{what} not reached in {timeout:g}s\n{logs}\n{self.argocd.log_tails()}")
            time.sleep(0.2)


def bootstrap_argocd(kube: ArgoWorld, testenv: TestEnv) -> None:
    """What docs/gitops.md tells an operator to do once: register the members (`argocd cluster add`), merge
    the generated health check into argocd-cm, apply the generated root Application."""
    for name, context in CONTEXTS.items():
        kube.argocd.register_cluster(name, testenv.cluster(context))
    patch = yaml.safe_load(kube.show("bootstrap/argocd-cm-patch.yaml"))
    kube.hub.manifests.apply(patch, FIELD_MANAGER)  # a merge of its keys into the install's argocd-cm
    kube.hub.manifests.apply(yaml.safe_load(kube.show("bootstrap/root.yaml")), FIELD_MANAGER)


def _start_services(kube: ArgoWorld, agents: dict[str, Path]) -> None:
    hub = ("--kube-context", "hub")
    env = {"KUBECONFIG": str(kube.kubeconfig), "M4D_GITOPS_REPO": kube.repo_url}
    services.start(kube.paths.hub, services.Service("hub", (*hub, "hub", "run")), env=env)
    for name, context in CONTEXTS.items():
        args = ("agent", "--cluster", name, "--member-kube-context", context, "--heartbeat", str(HEARTBEAT))
        services.start(
            kube.paths.hub, services.Service(f"agent-{name}", (*hub, *args)), env={"KUBECONFIG": str(agents[name])}
        )


@pytest.fixture(scope="module")
def kube(testenv: TestEnv, argocd: ArgoCD, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArgoWorld]:
    clusters = {api.name: KubeCluster.from_kubeconfig(api.context, str(api.kubeconfig)) for api in testenv.clusters}
    hub = clusters["hub"]
    members = {name: clusters[context] for name, context in CONTEXTS.items()}
    added = {name: _missing_crds(cluster) for name, cluster in clusters.items()}
    for cluster in clusters.values():
        cluster.manifests.install_crds(all_crds(), FIELD_MANAGER)
    _force_remove(hub, MemberCluster)
    _clean(hub, members)
    root = tmp_path_factory.mktemp("argocd-flow")
    paths = world.prepare(root / "hub", rows=2_000)
    init_bare(root / "git" / "gitops.git")
    agents: dict[str, Path] = {}
    for name, context in CONTEXTS.items():
        hub.manifests.apply_all(member_agent_manifests(name), FIELD_MANAGER)
        token = hub.manifests.service_account_token(member_namespace(name), SERVICE_ACCOUNT, seconds=3600)
        agents[name] = agent_kubeconfig(root / f"agent-{name}.kubeconfig", testenv.hub, token, testenv.cluster(context))
    with git_daemon(root / "git") as (base_url, _):
        url = f"{base_url}/gitops.git"
        webhook = GitWebhook(argocd, root / "git" / "gitops.git", url)
        kube = ArgoWorld(paths, testenv.kubeconfig, root / "git" / "gitops.git", url, hub, members, argocd, webhook)
        try:
            hub.ensure_namespace("m4d-system")
            for name, region in world.CLUSTERS:
                kube.m4d("cluster", "onboard", name, "--template", "plain", "--region", region)
            bootstrap_argocd(kube, testenv)
            kube.m4d("apply", "-f", str(paths.descriptors), "-f", str(paths.resources))
            _start_services(kube, agents)
            kube.m4d("apply", "-f", str(paths.applications))
            kube.wait(lambda: settled(hub), 200, "every sample application settled")
            yield kube
        finally:
            webhook.stop()
            argocd.remove_all()  # first, so Argo CD puts nothing back while the members are cleaned
            services.stop_all(paths.hub)
            _clean(hub, members)
            for context in CONTEXTS.values():
                _uninstall_crds(clusters[context], added[context])
            for cluster in clusters.values():
                cluster.close()


def _synced_healthy(app: dict[str, Any], revision: str) -> bool:
    status = app.get("status") or {}
    return (
        (status.get("sync") or {}).get("status") == "Synced"
        and (status.get("sync") or {}).get("revision") == revision
        and (status.get("health") or {}).get("status") == "Healthy"
    )


def test_argocd_delivered_every_blueprint(kube: ArgoWorld) -> None:
    head = kube.head()
    kube.wait(lambda: all(_synced_healthy(kube.app(n), head) for n in CONTEXTS), 60, "Applications Synced/Healthy")
    root = kube.argocd.application("m4d-root") or {}
    managed = {(r["kind"], r["name"]) for r in root["status"]["resources"]}
    assert managed == {("AppProject", "m4d"), *(("Application", argocd_application_name(n)) for n in CONTEXTS)}
    for name, member in kube.members.items():
        app = kube.app(name)
        blueprints = member.list(Blueprint).items
        assert blueprints and all(bp.spec.cluster == name for bp in blueprints)
        tracked = {r["name"]: r for r in app["status"]["resources"] if r["kind"] == "Blueprint"}
        assert set(tracked) == {bp.name for bp in blueprints}
        # The generated Lua health check, read from argocd-cm, judged each Blueprint by its status.
        assert {r["health"]["status"] for r in tracked.values()} == {"Healthy"}
        assert app["spec"]["destination"] == {"name": name, "namespace": "m4d-blueprints"}
    on_de = {bp.spec.application.name for bp in kube.members["eu-de-1"].list(Blueprint).items}
    on_fr = {bp.spec.application.name for bp in kube.members["eu-fr-1"].list(Blueprint).items}
    assert on_de == {"fraud-detection", "customer-analytics", "marketing-eu-fr"}
    assert on_fr == {"marketing-eu-fr"}


def test_applications_ready_and_data_read_over_flight(kube: ArgoWorld) -> None:
    sources = {TX: kube.paths.data / "transactions.parquet", CAMPAIGNS: kube.paths.data / "campaigns.csv"}
    secrets = SecretsFile(kube.paths.hub / "secrets.yaml")
    for name in ("fraud-detection", "customer-analytics", "marketing-eu-fr"):
        status = kube.hub.get(M4DApplication, name, "default").status
        assert status is not None and status.ready, name
        token = read_token(secrets, "default", name)
        for asset, state in status.asset_states.items():
            assert state.endpoint is not None, (name, asset)
            received = read_asset(kube.reachable(state.endpoint), token, asset).table
            assert received.num_rows > 0, (name, asset)
            columns = [c for d in state.decisions for a in d.actions for c in a.columns]
            source = source_table(str(sources[asset]), list({*received.column_names, *columns}))
            checks = verify(state.decisions, received, source)
            assert checks and all(c.ok for c in checks), [c.message for c in checks]


def test_describe_shows_argocd_status(kube: ArgoWorld) -> None:
    head = kube.head()
    kube.wait(lambda: _synced_healthy(kube.app("eu-de-1"), head), 60, "eu-de-1 Synced/Healthy")
    text = kube.m4d("describe", "membercluster", "eu-de-1")
    lines = {
        line.strip().split(":", 1)[0]: line.strip().split(":", 1)[1].strip()
        for line in text.split("Argo CD:")[1].splitlines()
        if ":" in line
    }
    assert lines["Application"] == f"{NAMESPACE}/{argocd_application_name('eu-de-1')}"
    assert lines["Sync"] == f"Synced at {head[:12]}"
    assert lines["Health"] == "Healthy"
    assert lines["Operation"].startswith("Succeeded at ")
    assert lines["Resources"].endswith("Healthy)")


def test_self_heal_restores_a_blueprint_edited_on_the_member(kube: ArgoWorld) -> None:
    member = kube.members["eu-de-1"]
    bp = next(b for b in member.list(Blueprint).items if b.spec.application.name == "fraud-detection")
    wanted = bp.spec.model_dump()
    bp.spec.modules[0].assets[0].actions = []  # someone drops the transformations by hand
    member.update(bp)

    def restored() -> bool:
        return member.get(Blueprint, bp.name, bp.metadata.namespace).spec.model_dump() == wanted

    kube.wait(restored, 60, "Argo CD self-heal of the edited Blueprint")


def test_prune_when_an_application_is_deleted(kube: ArgoWorld) -> None:
    kube.hub.delete(M4DApplication, "customer-analytics", "default")

    def pruned() -> bool:
        return not any(
            bp.spec.application.name == "customer-analytics" for bp in kube.members["eu-de-1"].list(Blueprint).items
        )

    kube.wait(pruned, 90, "customer-analytics' Blueprint pruned by Argo CD")
    head = kube.head()
    kube.wait(lambda: _synced_healthy(kube.app("eu-de-1"), head), 60, "eu-de-1 Synced after the prune")
    assert kube.hub.get(M4DApplication, "fraud-detection", "default").status.ready  # type: ignore[union-attr]


def test_offboarding_removes_the_cluster_application(kube: ArgoWorld) -> None:
    """The last test: eu-fr-1 leaves; its Application goes from the root app, and with it its Blueprints."""
    kube.hub.delete(M4DApplication, "marketing-eu-fr", "default")
    kube.m4d("cluster", "offboard", "eu-fr-1")
    kube.wait(lambda: not kube.app("eu-fr-1"), 120, "the eu-fr-1 Application removed")
    kube.wait(lambda: not kube.members["eu-fr-1"].list(Blueprint).items, 60, "eu-fr-1's Blueprints removed")
    assert not kube.files("clusters/eu-fr-1/") and not kube.files("argocd/clusters/eu-fr-1.yaml")
    assert kube.app("eu-de-1")
