"""The platform installed on Kubernetes with its Helm charts, as a cluster admin installs it.

`m4d-hub` (two leader-elected replicas) on the test hub and `m4d-agent` on both members, with real Helm;
their pods, and the modules' pods, run on the node emulator with the real scheduler and controller
manager. Vault is OpenBao with a Kubernetes auth mount per cluster: the hub keeps applications' tokens
there, the agents read them, the modules read their assets' credentials (the sample hashing key) — all as
their own service accounts, validated by the API servers' TokenReview. A `m4d sync` process plays Argo
CD's part (the GitOps repository is a bare repository behind `git daemon`, where the hub's pods push).
The sample applications are submitted and deleted with `kubectl`, as the install guide does; the test
reads their data over Flight with the token from each application's Secret.
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from m4d.api import Blueprint, M4DApplication, MemberCluster, Plotter
from m4d.api.crd import all_crds
from m4d.api.meta import find_condition
from m4d.cluster.kube import KubeCluster
from m4d.cluster.kube_manifests import CRD_API_VERSION
from m4d.controllers.agent.workloads import LABEL_BLUEPRINT, MANAGED_BY
from m4d.credentials.app_tokens import token_ref
from m4d.demo import services, world
from m4d.demo.reader import read_asset, refused_without_token
from m4d.demo.verify import source_table, verify
from m4d.errors import ConflictError, NotFoundError
from tests.e2e.helm_world import (
    BLUEPRINTS,
    CHARTS,
    SYSTEM,
    Helm,
    Kubectl,
    auth_mount,
    configure_vault,
    documents,
    vault_read,
)
from tests.integration.generator.gitservers import git_daemon
from tests.testenv.openbao import OpenBao
from tests.testenv.servers import TestEnv
from tests.testenv.workloads import ClusterNodes, service_address

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(600)]

CONTEXTS = {"eu-de-1": "member1", "eu-fr-1": "member2"}
APPS = ("customer-analytics", "fraud-detection", "intern-hr", "marketing-eu-fr")
EXTRA = "customer-analytics-2"  # submitted after a leader change
SERVED = ("customer-analytics", "fraud-detection", "marketing-eu-fr")
MANAGER = "m4d-e2e"
LEASE_SECONDS = 15  # the hub's leader election (m4d.runtime.leader defaults)
LEAVE = ("--ignore-not-found", "--wait", "--timeout", "2m")  # the fixture's clean-up, after a failure too


@dataclass
class Installed:
    env: TestEnv
    nodes: ClusterNodes
    bao: OpenBao
    paths: world.DemoPaths
    helm: Helm
    kubectl: Kubectl
    hub: KubeCluster
    members: dict[str, KubeCluster]  # by member cluster name
    repo: Path  # the GitOps repository (bare)
    git_url: str  # where the hub's pods push it: git://127.0.0.1:PORT/gitops.git

    def m4d(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "m4d.cli", "--hub", str(self.paths.hub), "--kube-context", "hub", *args],
            capture_output=True,
            text=True,
            env={**os.environ, "KUBECONFIG": str(self.env.kubeconfig)},
            check=False,
        )
        assert done.returncode == 0, f"m4d {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout

    def app(self, name: str) -> M4DApplication:
        return self.hub.get(M4DApplication, name, "default")

    def wait(self, check: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout:g}s\n{self.logs()}")
            time.sleep(0.3)

    def logs(self) -> str:
        """The platform's pods' logs (the last lines of each), for a failure message."""
        out = []
        for cluster, node in self.nodes.nodes.items():
            for log in sorted(node.root.glob("pods/*/containers/*/*.log")):
                lines = log.read_text(errors="replace").splitlines()[-15:]
                if lines:
                    out.append(f"--- {cluster} {log.relative_to(node.root)}\n" + "\n".join(lines))
        for log in sorted((self.paths.hub / "logs").glob("*.log")):
            out.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
        history = subprocess.run(
            ["git", "--git-dir", str(self.repo), "log", "--name-status", "-8", "--format=%h %s", "main"],
            capture_output=True,
            text=True,
            check=False,
        )
        out.append(f"--- the GitOps repository\n{history.stdout}{history.stderr}")
        return "\n".join(out[-40:])

    def pods(self, cluster: KubeCluster, namespace: str, selector: str) -> list[dict[str, Any]]:
        return cluster.manifests.list_objects("v1", "Pod", namespace, selector)[0]

    def commits(self) -> list[str]:
        done = subprocess.run(
            ["git", "--git-dir", str(self.repo), "log", "--format=%H %s", "main"],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.splitlines()


def _strip_finalizers(cluster: KubeCluster) -> None:
    """Leftovers of earlier tests on these shared servers must not hold the CRDs' deletion."""
    for crd in all_crds():
        spec = crd["spec"]
        api_version = f"{spec['group']}/{spec['versions'][0]['name']}"
        try:
            items, _ = cluster.manifests.list_objects(api_version, spec["names"]["kind"])
        except NotFoundError:
            continue
        for item in items:
            meta = item["metadata"]
            with contextlib.suppress(NotFoundError, ConflictError):
                if meta.get("finalizers"):
                    meta["finalizers"] = []
                    cluster.manifests.replace(item)


def _remove_crds(cluster: KubeCluster, timeout: float = 60.0) -> list[str]:
    """Delete the platform's CRDs (so Helm installs them as its own); the names that were there."""
    _strip_finalizers(cluster)
    names = [c["metadata"]["name"] for c in all_crds()]
    present = [n for n in names if cluster.manifests.delete(CRD_API_VERSION, "CustomResourceDefinition", n)]
    deadline = time.monotonic() + timeout
    for name in present:
        while time.monotonic() < deadline:
            try:
                cluster.manifests.get(CRD_API_VERSION, "CustomResourceDefinition", name)
            except NotFoundError:
                break
            time.sleep(0.2)
    return present


def _release_objects(cluster: KubeCluster, release: str) -> list[str]:
    """Every object of these kinds labelled as the release's (what `helm uninstall` must remove)."""
    kinds = [
        ("v1", "Pod"), ("v1", "ServiceAccount"), ("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "Namespace"),
        ("apps/v1", "Deployment"), ("apps/v1", "ReplicaSet"),
        ("rbac.authorization.k8s.io/v1", "Role"), ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"), ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        (CRD_API_VERSION, "CustomResourceDefinition"),
    ]  # fmt: skip
    found = []
    for api_version, kind in kinds:
        items, _ = cluster.manifests.list_objects(api_version, kind, None, f"app.kubernetes.io/instance={release}")
        found += [f"{kind} {i['metadata'].get('namespace', '')}/{i['metadata']['name']}" for i in items]
    return found


def _exists(cluster: KubeCluster, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
    try:
        cluster.manifests.get(api_version, kind, name, namespace)
    except NotFoundError:
        return False
    return True


def _nothing_left(cluster: KubeCluster, release: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while left := _release_objects(cluster, release):
        if time.monotonic() > deadline:
            namespaces = [n.split("/")[1] for n in left if n.startswith("Namespace")]
            why = [cluster.manifests.get("v1", "Namespace", n).get("status") for n in namespaces]
            raise AssertionError(f"left of {release} on {cluster.name}: {left} {why}")
        time.sleep(0.5)


def _settled(hub: KubeCluster) -> bool:
    for name in APPS:
        try:
            app = hub.get(M4DApplication, name, "default")
        except NotFoundError:
            return False
        if app.status is None or app.status.observed_generation != app.metadata.generation:
            return False
        ready = find_condition(app.status.conditions, "Ready")
        if not app.status.ready and (ready is None or ready.reason != "Denied"):
            return False
    return True


@pytest.fixture(scope="module")
def installed(
    testenv: TestEnv, cluster_nodes: ClusterNodes, openbao: OpenBao, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("helm")
    clusters = {api.name: KubeCluster.from_kubeconfig(api.context, str(api.kubeconfig)) for api in testenv.clusters}
    hub = clusters["hub"]
    members = {name: clusters[context] for name, context in CONTEXTS.items()}
    had_crds = {name: _remove_crds(cluster) for name, cluster in clusters.items()}
    paths = world.prepare(root / "hub", rows=2_000)
    member_of = {context: name for name, context in CONTEXTS.items()}
    configure_vault(openbao, testenv, member_of, yaml.safe_load((paths.hub / "secrets.yaml").read_text()))
    repo_base = root / "git"
    repo = repo_base / "gitops.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(repo)], check=True)
    helm = Helm(testenv.kubeconfig, root / "helm")
    kubectl = Kubectl(testenv.kubeconfig, root / "kubectl")
    with git_daemon(repo_base) as (git_url, _):
        kube = Installed(
            testenv, cluster_nodes, openbao, paths, helm, kubectl, hub, members, repo, f"{git_url}/gitops.git"
        )
        try:
            if not _exists(hub, "v1", "Namespace", SYSTEM):  # earlier tests on these servers may have made it
                kubectl("hub", "create", "namespace", SYSTEM)
            for name, folder in (("m4d-catalog", paths.hub / "catalog"), ("m4d-policies", paths.hub / "policies")):
                kubectl("hub", "-n", SYSTEM, "create", "configmap", name, f"--from-file={folder}/")
            helm(
                "hub", "install", "m4d-hub", str(CHARTS / "m4d-hub"), "-n", SYSTEM, "--wait", "--timeout", "3m",
                "--set", f"gitops.repo={git_url}/gitops.git",
                "--set", f"vault.address={openbao.address}", "--set", f"vault.authPath={auth_mount('hub')}",
                "--set", "catalog.configMap=m4d-catalog", "--set", "policies.configMap=m4d-policies",
                "--set", "crds.keep=false", "--set", "hub.heartbeatTimeout=30", "--set", "hub.verbose=true",
            )  # fmt: skip
            kube.m4d("apply", "-f", str(paths.descriptors), "-f", str(paths.resources))
            bundles = {}
            for name, region in world.CLUSTERS:
                bundles[name] = root / f"{name}-values.yaml"
                kube.m4d(
                    "cluster", "onboard", name, "--template", "plain", "--region", region,
                    "--set", "vaultRole=m4d-module", "--set", f"vaultAuthPath={auth_mount(CONTEXTS[name])}",
                    "--gitops-repo", f"{git_url}/gitops.git", "--bundle", str(bundles[name]),
                )  # fmt: skip
            sync = [f"--member-context={name}={context}" for name, context in CONTEXTS.items()]
            services.start(
                paths.hub,
                services.Service("sync", ("--kube-context", "hub", "sync", "--repo", str(repo), *sync)),
                env={"KUBECONFIG": str(testenv.kubeconfig)},
            )
            for name, context in CONTEXTS.items():
                # Argo CD's first sync of the cluster's folder makes the Blueprints' namespace; then the agent.
                kube.wait(
                    lambda m=members[name]: _exists(m, "v1", "Namespace", BLUEPRINTS), 60, f"{BLUEPRINTS} on {name}"
                )
                helm(
                    context, "install", "m4d-agent", str(CHARTS / "m4d-agent"), "-n", SYSTEM, "--create-namespace",
                    "-f", str(bundles[name]), "--wait", "--timeout", "3m",
                    "--set", f"vault.address={openbao.address}", "--set", f"vault.authPath={auth_mount(context)}",
                    "--set", "crds.keep=false", "--set", "heartbeat=1",
                )  # fmt: skip
            kubectl("hub", "apply", "-f", f"{paths.applications}/")
            kube.wait(lambda: _settled(hub), 240, "every sample application settled")
            yield kube
        finally:
            services.stop_all(paths.hub)
            for name, context in CONTEXTS.items():
                _strip_finalizers(members[name])
                helm(context, "uninstall", "m4d-agent", "-n", SYSTEM, *LEAVE, check=False)
            _strip_finalizers(hub)
            helm("hub", "uninstall", "m4d-hub", "-n", SYSTEM, *LEAVE, check=False)
            for name, cluster in clusters.items():  # as the session had them, for the tests after this one
                _remove_crds(cluster)
                if had_crds[name]:
                    cluster.manifests.install_crds(
                        [c for c in all_crds() if c["metadata"]["name"] in had_crds[name]], MANAGER
                    )
                cluster.close()


def test_hub_and_agents_run_as_workloads(installed: Installed) -> None:
    hub = installed.hub
    deployment = hub.manifests.get("apps/v1", "Deployment", "m4d-hub", SYSTEM)
    assert deployment["status"]["availableReplicas"] == 2
    pods = installed.pods(hub, SYSTEM, "app.kubernetes.io/name=m4d-hub")
    assert {p["spec"]["nodeName"] for p in pods} == {"hub-node"}  # run by the hub's node, bound by its scheduler
    holder = hub.manifests.get("coordination.k8s.io/v1", "Lease", "m4d-hub", SYSTEM)["spec"]["holderIdentity"]
    assert holder.split("_")[0] in {p["metadata"]["name"] for p in pods}  # one replica leads
    for name, member in installed.members.items():
        agent = member.manifests.get("apps/v1", "Deployment", "m4d-agent", SYSTEM)
        assert agent["status"]["availableReplicas"] == 1
        cluster = hub.get(MemberCluster, name)
        assert cluster.status is not None and cluster.status.last_heartbeat is not None
        assert cluster.spec.vault_role == "m4d-module"
        # The agent may act only in the Blueprints' namespace on its member: no ClusterRole of its own.
        roles, _ = member.manifests.list_objects(
            "rbac.authorization.k8s.io/v1", "ClusterRole", None, "app.kubernetes.io/name=m4d-agent"
        )
        assert roles == []


def test_modules_run_as_pods_and_serve_governed_data_with_the_secrets_token(installed: Installed) -> None:
    sources = {
        "finance/transactions": installed.paths.data / "transactions.parquet",
        "marketing/campaigns": installed.paths.data / "campaigns.csv",
    }
    messages: list[str] = []
    for name in SERVED:
        status = installed.app(name).status
        assert status is not None and status.ready and status.access_token is not None, name
        secret = installed.hub.manifests.get("v1", "Secret", status.access_token.name, "default")
        token = base64.b64decode(secret["data"][status.access_token.key]).decode()
        assert installed.m4d("token", name).strip() == token  # what `m4d token` reads on a Kubernetes hub
        assert vault_read(installed.bao, token_ref("default", name)) == {"token": token}  # for the agents
        for asset, state in status.asset_states.items():
            assert state.endpoint is not None
            assert state.endpoint.hostname.endswith(f".{BLUEPRINTS}.svc.cluster.local")
            endpoint = None
            for member in installed.members.values():
                with contextlib.suppress(NotFoundError, LookupError):
                    host, port = service_address(member.manifests, state.endpoint.hostname, state.endpoint.port)
                    endpoint = state.endpoint.model_copy(update={"hostname": host, "port": port})
            assert endpoint is not None, state.endpoint
            received = read_asset(endpoint, token, asset).table
            assert received.num_rows > 0
            columns = [c for d in state.decisions for a in d.actions for c in a.columns]
            checks = verify(
                state.decisions, received, source_table(str(sources[asset]), list({*received.column_names, *columns}))
            )
            assert checks and all(c.ok for c in checks), [c.message for c in checks]
            messages += [c.message for c in checks]
            assert "bearer token" in refused_without_token(endpoint, asset)
    # The keyed hash's key came from Vault, read by the module as its own service account.
    assert any(m.startswith("customer_id: keyed digests") for m in messages)
    assert any(m.startswith("name: every value is 'XXXXXXXX'") for m in messages)
    for name, member in installed.members.items():
        pods = installed.pods(member, BLUEPRINTS, f"{MANAGED_BY[0]}={MANAGED_BY[1]}")
        assert pods, name
        for pod in pods:
            assert pod["spec"]["serviceAccountName"] == "m4d-module"
            assert pod["spec"]["automountServiceAccountToken"] is False  # a Vault token only, no API token
            assert pod["spec"]["nodeName"] == installed.nodes.node(CONTEXTS[name]).name


def _leader(installed: Installed) -> str:
    # As the install guide finds the leader.
    return installed.kubectl("hub", "-n", SYSTEM, "get", "lease", "m4d-hub", "-o", "jsonpath={.spec.holderIdentity}")


def _process_of(pod: str) -> int:
    """The pid of the hub container in `pod` (the node runs it as a local process)."""
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            env = environ.read_bytes().split(b"\0")
            cmdline = (environ.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if f"POD_NAME={pod}".encode() in env and b"hub\0run" in cmdline:
            return int(environ.parent.name)
    raise AssertionError(f"no hub process for pod {pod}")


def _restarted(installed: Installed, pod: str) -> bool:
    status = installed.hub.manifests.get("v1", "Pod", pod, SYSTEM).get("status") or {}
    containers = status.get("containerStatuses") or [{}]
    return all(c.get("restartCount", 0) >= 1 and "running" in (c.get("state") or {}) for c in containers)


def test_the_other_replica_leads_when_the_leader_is_killed(installed: Installed) -> None:
    before = _leader(installed)
    os.kill(_process_of(before.split("_")[0]), signal.SIGKILL)  # no release: the lease must run out
    killed = time.monotonic()
    after = installed.wait(lambda: (lead := _leader(installed)) != before and lead, 3 * LEASE_SECONDS, "a new leader")
    assert time.monotonic() - killed < LEASE_SECONDS + 10, "taken over within the lease time (+ retries)"
    assert after != before
    # The killed replica's container is restarted in its pod (restartPolicy Always) and is a candidate again.
    installed.wait(lambda: _restarted(installed, before.split("_")[0]), 120, "the killed replica restarted")
    # The new leader reconciles, with both replicas running: a new application is planned, committed exactly
    # once, and served.
    doc = documents(installed.paths.applications / "customer-analytics.yaml")[0]
    doc["metadata"]["name"] = EXTRA
    installed.kubectl("hub", "apply", "-f", "-", stdin=yaml.safe_dump(doc))
    app = installed.wait(
        lambda: (a := installed.app(EXTRA)).status is not None and a.status.ready and a, 120, f"{EXTRA} Ready"
    )
    assert app.status.access_token is not None
    time.sleep(3)  # a window for a second committer (none may come): a second leader would commit at once
    subjects = [c for c in installed.commits() if EXTRA in c]
    assert len(subjects) == 1, subjects


def _rolled_out(cluster: KubeCluster, name: str) -> bool:
    got = cluster.manifests.get("apps/v1", "Deployment", name, SYSTEM)
    status, wanted = got.get("status") or {}, got["spec"]["replicas"]
    return (
        status.get("observedGeneration") == got["metadata"]["generation"]
        and status.get("updatedReplicas") == wanted
        and status.get("availableReplicas") == wanted
        and status.get("replicas") == wanted
    )


def test_helm_upgrade_rolls_the_platform_and_the_modules_keep_serving(installed: Installed) -> None:
    hub, member = installed.hub, installed.members["eu-de-1"]
    old_hub = {p["metadata"]["uid"] for p in installed.pods(hub, SYSTEM, "app.kubernetes.io/name=m4d-hub")}
    modules = {p["metadata"]["uid"] for p in installed.pods(member, BLUEPRINTS, f"{MANAGED_BY[0]}={MANAGED_BY[1]}")}
    installed.helm("hub", "upgrade", "m4d-hub", str(CHARTS / "m4d-hub"), "-n", SYSTEM, "--reuse-values",
                   "--set", "hub.workers=2", "--wait", "--timeout", "3m")  # fmt: skip
    installed.helm("member1", "upgrade", "m4d-agent", str(CHARTS / "m4d-agent"), "-n", SYSTEM, "--reuse-values",
                   "--set", "heartbeat=2", "--wait", "--timeout", "3m")  # fmt: skip
    installed.wait(lambda: _rolled_out(hub, "m4d-hub") and _rolled_out(member, "m4d-agent"), 120, "the rollouts")

    def hub_pods() -> set[str]:
        return {p["metadata"]["uid"] for p in installed.pods(hub, SYSTEM, "app.kubernetes.io/name=m4d-hub")}

    # A new configuration rolls every replica: the old pods end (a terminating one is still listed for the
    # moments its process takes to stop) and two new ones run.
    installed.wait(lambda: not hub_pods() & old_hub, 120, "the old hub pods gone")
    assert len(hub_pods()) == 2
    config = hub.manifests.get("v1", "ConfigMap", "m4d-hub-config", SYSTEM)
    assert "workers: 2" in config["data"]["hub.yaml"]
    installed.wait(lambda: _leader(installed).split("_")[0] in {
        p["metadata"]["name"] for p in installed.pods(hub, SYSTEM, "app.kubernetes.io/name=m4d-hub")}, 60,
        "a new replica leads")  # fmt: skip
    # The agent's restart leaves the modules alone: the same pods, still ready; the applications stay Ready.
    after = {p["metadata"]["uid"] for p in installed.pods(member, BLUEPRINTS, f"{MANAGED_BY[0]}={MANAGED_BY[1]}")}
    assert after == modules
    assert all(installed.app(name).status.ready for name in SERVED)  # type: ignore[union-attr]


def test_deleting_an_application_removes_its_workloads_and_token(installed: Installed) -> None:
    name = "marketing-eu-fr"
    secret = installed.app(name).status.access_token  # type: ignore[union-attr]
    assert secret is not None
    installed.kubectl("hub", "delete", "m4dapplication", name, "--wait=false")

    def gone() -> bool:
        for member in installed.members.values():
            if any(bp.spec.application.name == name for bp in member.list(Blueprint).items):
                return False
            if [p for p in installed.pods(member, BLUEPRINTS, LABEL_BLUEPRINT) if name in p["metadata"]["name"]]:
                return False
        return not any(p.spec.application.name == name for p in installed.hub.list(Plotter).items)

    installed.wait(gone, 120, f"{name}'s Blueprints, workloads and pods removed")
    with pytest.raises(NotFoundError):
        installed.hub.manifests.get("v1", "Secret", secret.name, "default")
    installed.wait(lambda: vault_read(installed.bao, token_ref("default", name)) is None, 30, "its token out of Vault")


def test_helm_uninstall_leaves_nothing_behind(installed: Installed) -> None:
    for name in (*APPS, EXTRA):
        with contextlib.suppress(NotFoundError):
            installed.hub.delete(M4DApplication, name, "default")
    installed.wait(
        lambda: not any(m.list(Blueprint).items for m in installed.members.values()), 120, "every Blueprint pruned"
    )
    services.stop_all(installed.paths.hub)  # the sync (Argo CD's part) is done
    for name, context in CONTEXTS.items():
        installed.helm(context, "uninstall", "m4d-agent", "-n", SYSTEM, "--wait", "--timeout", "2m")
        member = installed.members[name]
        _nothing_left(member, "m4d-agent")
        with pytest.raises(NotFoundError):
            member.manifests.get(CRD_API_VERSION, "CustomResourceDefinition", "blueprints.app.m4d.dev")
    for name in CONTEXTS:  # the members' identities on the hub go with their offboarding
        installed.m4d("cluster", "offboard", name, "--gitops-repo", installed.git_url)
        installed.wait(
            lambda n=name: (
                not _exists(installed.hub, "v1", "Namespace", f"m4d-member-{n}")
                and not _exists(installed.hub, "rbac.authorization.k8s.io/v1", "ClusterRole", f"m4d-agent-{n}")
            ),
            60,
            f"the agent identity of {name} removed from the hub",
        )
    installed.helm("hub", "uninstall", "m4d-hub", "-n", SYSTEM, "--wait", "--timeout", "2m")
    _nothing_left(installed.hub, "m4d-hub")
    with pytest.raises(NotFoundError):
        installed.hub.manifests.get(CRD_API_VERSION, "CustomResourceDefinition", "m4dapplications.app.m4d.dev")
    with pytest.raises(NotFoundError):  # the last leader removed its Lease when it stopped
        installed.hub.manifests.get("coordination.k8s.io/v1", "Lease", "m4d-hub", SYSTEM)
