"""The whole flow on real kube-apiservers: the hub and two members of the test environment.

The hub's controllers, a sync that applies each `clusters/<name>/` folder of the GitOps repository to its
member's API server (what Argo CD does), and one agent per member run as `m4d` processes; the modules
are Deployments and Jobs the agents create on their members, run by the members' nodes (the node
emulator, with the real scheduler and controller manager). The hub directory holds only what has no API
server here: the catalog, the policies, the secrets file and the GitOps repository. The sample
applications are submitted to the real hub and must come out as on the embedded default
(tests/e2e/test_demo.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.flight as flight
import pytest

from m4d.api import Blueprint, BlueprintReport, M4DApplication, M4DModule, M4DStorageAccount, MemberCluster, Plotter
from m4d.api.common import Endpoint
from m4d.api.crd import all_crds
from m4d.api.meta import Condition, Resource, find_condition
from m4d.cluster.kube import KubeCluster
from m4d.cluster.kube_manifests import CRD_API_VERSION
from m4d.cluster.rbac import SERVICE_ACCOUNT, agent_user, member_agent_manifests, member_namespace
from m4d.controllers.agent.workloads import CONFIG_KEY, LABEL_BLUEPRINT, LABEL_INSTANCE, object_name
from m4d.credentials.app_tokens import read_token
from m4d.credentials.local import SecretsFile
from m4d.demo import services, world
from m4d.demo.reader import read_asset, refused_without_token
from m4d.demo.verify import source_table, verify
from m4d.errors import ConflictError, ForbiddenError, M4DError, NotFoundError
from tests.testenv.servers import ApiServer, TestEnv
from tests.testenv.workloads import ClusterNodes, service_address

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(300)]

# Member cluster -> the test environment's kube context it runs on (world.CLUSTERS gives the regions).
CONTEXTS = {"eu-de-1": "member1", "eu-fr-1": "member2"}
APPS = ("customer-analytics", "fraud-detection", "intern-hr", "marketing-eu-fr")
MODULES = ("arrow-flight", "implicit-copy")  # modules/descriptors/
SETTLED = {"Denied"}
HEARTBEAT = 1.0
FIELD_MANAGER = "m4d-e2e"
API_VERSION = "app.m4d.dev/v1alpha1"
TX, CAMPAIGNS = "finance/transactions", "marketing/campaigns"


@dataclass
class KubeWorld:
    paths: world.DemoPaths
    kubeconfig: Path  # every context as admin: hub, member1, member2
    hub: KubeCluster  # the test's own view, as admin
    members: dict[str, KubeCluster]  # by member cluster name
    # Each agent's kubeconfig: context `hub` as the member's agent service account, its member as admin.
    agent_kubeconfigs: dict[str, Path]

    def m4d(self, *args: str) -> str:
        """An `m4d` command on the real hub, as an operator runs it."""
        done = subprocess.run(
            [sys.executable, "-m", "m4d.cli", "--hub", str(self.paths.hub), "--kube-context", "hub", *args],
            capture_output=True,
            text=True,
            env=self.env(),
            check=False,
        )
        assert done.returncode == 0, f"m4d {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def app(self, name: str) -> M4DApplication:
        return self.hub.get(M4DApplication, name, "default")

    def reachable(self, endpoint: Endpoint) -> Endpoint:
        """The endpoint as a client here reaches it: the Service's name resolved to a ready pod."""
        for member in self.members.values():
            try:
                host, port = service_address(member.manifests, endpoint.hostname, endpoint.port)
            except (NotFoundError, LookupError):
                continue
            return endpoint.model_copy(update={"hostname": host, "port": port})
        raise AssertionError(f"no member serves {endpoint.url}")

    def wait(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                logs = "\n".join(
                    f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-20:])
                    for p in sorted((self.paths.hub / "logs").glob("*.log"))
                )
                raise AssertionError(f"{what} not reached in {timeout:g}s\n{logs}")
            time.sleep(0.2)


def settled(hub: KubeCluster) -> bool:
    """Every sample application reconciled and Ready, or stopped for good (denied). Endpoints can come
    before Ready (the Plotter is ready once every cluster's report matches), so Ready is what counts."""
    for name in APPS:
        try:
            app = hub.get(M4DApplication, name, "default")
        except NotFoundError:
            return False
        if app.status is None or app.status.observed_generation != app.metadata.generation:
            return False
        ready = find_condition(app.status.conditions, "Ready")
        if not app.status.ready and (ready is None or ready.reason not in SETTLED):
            return False
    return True


def _force_remove(cluster: KubeCluster, kind: type[Resource], keep: Callable[[Any], bool] = lambda o: True) -> None:
    """Delete objects of `kind` even if no controller is left to finalize them (the servers are shared)."""
    for obj in cluster.list(kind).items:
        if not keep(obj):
            continue
        with contextlib.suppress(NotFoundError, ConflictError):
            if obj.metadata.finalizers:
                obj.metadata.finalizers = []
                cluster.update(obj)
            cluster.delete(kind, obj.name, obj.metadata.namespace)


def _clean(hub: KubeCluster, members: dict[str, KubeCluster]) -> None:
    _force_remove(hub, M4DApplication, lambda o: o.metadata.namespace == "default" and o.name in APPS)
    _force_remove(hub, Plotter, lambda o: o.spec.application.name in APPS)
    _force_remove(hub, BlueprintReport, lambda o: o.spec.cluster in CONTEXTS)
    _force_remove(hub, MemberCluster, lambda o: o.name in CONTEXTS)
    _force_remove(hub, M4DModule, lambda o: o.metadata.namespace == "m4d-system" and o.name in MODULES)
    _force_remove(hub, M4DStorageAccount, lambda o: o.name == world.STORAGE[0])
    for member in members.values():
        _force_remove(member, Blueprint)


def _missing_crds(cluster: KubeCluster) -> list[str]:
    missing = []
    for crd in all_crds():
        try:
            cluster.manifests.get(CRD_API_VERSION, "CustomResourceDefinition", crd["metadata"]["name"])
        except NotFoundError:
            missing.append(crd["metadata"]["name"])
    return missing


def _uninstall_crds(cluster: KubeCluster, names: list[str], timeout: float = 30.0) -> None:
    for name in names:
        cluster.manifests.delete(CRD_API_VERSION, "CustomResourceDefinition", name)
    deadline = time.monotonic() + timeout
    for name in names:
        while time.monotonic() < deadline:
            try:
                cluster.manifests.get(CRD_API_VERSION, "CustomResourceDefinition", name)
            except NotFoundError:
                break
            time.sleep(0.1)


def agent_kubeconfig(path: Path, hub: ApiServer, token: str, member: ApiServer) -> Path:
    """What a member's agent is given: the hub as its service account (a TokenRequest token), its member."""
    entries = [("hub", hub, f"{SERVICE_ACCOUNT}@hub", token), (member.context, member, "admin", member.admin_token)]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "hub",
        "clusters": [
            {"name": c, "cluster": {"server": a.url, "certificate-authority": str(a.ca_file)}} for c, a, _, _ in entries
        ],
        "users": [{"name": f"{u}-{c}", "user": {"token": t}} for c, _, u, t in entries],
        "contexts": [{"name": c, "context": {"cluster": c, "user": f"{u}-{c}"}} for c, _, u, _ in entries],
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
    return path


def _start_services(kube: KubeWorld) -> None:
    hub = ("--kube-context", "hub")
    admin = {"KUBECONFIG": str(kube.kubeconfig)}
    sync_args = [f"--member-context={name}={context}" for name, context in CONTEXTS.items()]
    services.start(kube.paths.hub, services.Service("hub", (*hub, "hub", "run")), env=admin)
    services.start(kube.paths.hub, services.Service("sync", (*hub, "sync", *sync_args)), env=admin)
    for name, context in CONTEXTS.items():
        args = ("agent", "--cluster", name, "--member-kube-context", context, "--heartbeat", str(HEARTBEAT))
        agent = services.Service(f"agent-{name}", (*hub, *args))
        services.start(kube.paths.hub, agent, env={"KUBECONFIG": str(kube.agent_kubeconfigs[name])})


@pytest.fixture(scope="module")
def kube(
    testenv: TestEnv, cluster_nodes: ClusterNodes, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KubeWorld]:
    with kube_world(testenv, tmp_path_factory.mktemp("kube-flow")) as world_:
        yield world_


@contextlib.contextmanager
def kube_world(testenv: TestEnv, root: Path) -> Iterator[KubeWorld]:
    """The sample applications settled on the test environment's hub and members (their nodes running),
    with the hub, sync and agents as processes; everything of ours removed afterwards."""
    clusters = {api.name: KubeCluster.from_kubeconfig(api.context, str(api.kubeconfig)) for api in testenv.clusters}
    hub = clusters["hub"]
    members = {name: clusters[context] for name, context in CONTEXTS.items()}
    added = {name: _missing_crds(cluster) for name, cluster in clusters.items()}
    for cluster in clusters.values():
        cluster.manifests.install_crds(all_crds(), FIELD_MANAGER)
    # The servers are shared by the session: members other tests registered would be candidates here too.
    _force_remove(hub, MemberCluster)
    _clean(hub, members)
    paths = world.prepare(root / "hub", rows=2_000)
    agents: dict[str, Path] = {}
    for name, context in CONTEXTS.items():
        hub.manifests.apply_all(member_agent_manifests(name), FIELD_MANAGER)
        token = hub.manifests.service_account_token(member_namespace(name), SERVICE_ACCOUNT, seconds=3600)
        agents[name] = agent_kubeconfig(root / f"agent-{name}.kubeconfig", testenv.hub, token, testenv.cluster(context))
    kube = KubeWorld(paths, testenv.kubeconfig, hub, members, agents)
    try:
        hub.ensure_namespace("m4d-system")
        for name, region in world.CLUSTERS:
            kube.m4d("cluster", "onboard", name, "--template", "plain", "--region", region)
        kube.m4d("apply", "-f", str(paths.descriptors), "-f", str(paths.resources))
        _start_services(kube)
        kube.m4d("apply", "-f", str(paths.applications))
        kube.wait(lambda: settled(hub), 150, "every sample application settled")
        yield kube
    finally:
        services.stop_all(paths.hub)
        _clean(hub, members)
        for context in CONTEXTS.values():  # the members are as other tests expect them: without our kinds
            _uninstall_crds(clusters[context], added[context])
        for cluster in clusters.values():
            cluster.close()


def test_applications_are_served_or_denied(kube: KubeWorld) -> None:
    for name in ("fraud-detection", "customer-analytics", "marketing-eu-fr"):
        app = kube.app(name)
        assert app.status is not None and app.status.ready, name
        assert all(state.endpoint is not None for state in app.status.asset_states.values()), name
    denied = kube.app("intern-hr").status
    assert denied is not None and not denied.ready
    ready = find_condition(denied.asset_states["hr/employees"].conditions, "Ready")
    assert ready is not None and ready.reason == "Denied"
    assert "denies read of hr/employees" in (ready.message or "")


def test_marketing_copies_on_eu_de_and_reads_on_eu_fr(kube: KubeWorld) -> None:
    plotter = next(p for p in kube.hub.list(Plotter).items if p.spec.application.name == "marketing-eu-fr")
    flow = next(f for f in plotter.spec.flows if f.asset_id == TX)
    assert [(s.capability, s.cluster) for s in flow.steps] == [("copy", "eu-de-1"), ("read", "eu-fr-1")]
    endpoint = kube.app("marketing-eu-fr").status.asset_states[TX].endpoint  # type: ignore[union-attr]
    reports = {
        r.spec.cluster: r for r in kube.hub.list(BlueprintReport).items if r.spec.application.name == "marketing-eu-fr"
    }
    assert set(reports) == {"eu-de-1", "eu-fr-1"}
    assert [m.phase for m in reports["eu-de-1"].spec.modules.values()] == ["Completed"]
    served = [m.endpoint.url for m in reports["eu-fr-1"].spec.modules.values() if m.endpoint is not None]
    assert endpoint is not None and endpoint.url in served


def test_blueprints_on_members_reports_on_hub(kube: KubeWorld) -> None:
    for name, member in kube.members.items():
        blueprints = member.list(Blueprint).items
        assert blueprints and all(bp.spec.cluster == name for bp in blueprints)
        assert all(bp.metadata.namespace == "m4d-blueprints" for bp in blueprints)
        for bp in blueprints:
            assert bp.status is not None
            ready = find_condition(bp.status.conditions, "Ready")
            assert ready is not None and ready.status == "True", bp.name
        reports = kube.hub.list(BlueprintReport, member_namespace(name)).items
        assert sorted(r.name for r in reports) == sorted(bp.name for bp in blueprints)
        cluster = kube.hub.get(MemberCluster, name)
        assert cluster.status is not None and cluster.status.applied_revision and cluster.status.last_heartbeat
    # Each member holds its own Blueprints only: the three servers are separate clusters.
    on_de = {bp.spec.application.name for bp in kube.members["eu-de-1"].list(Blueprint).items}
    on_fr = {bp.spec.application.name for bp in kube.members["eu-fr-1"].list(Blueprint).items}
    assert on_de == {"fraud-detection", "customer-analytics", "marketing-eu-fr"}
    assert on_fr == {"marketing-eu-fr"}


def test_governed_data_read_over_flight(kube: KubeWorld) -> None:
    sources = {TX: kube.paths.data / "transactions.parquet", CAMPAIGNS: kube.paths.data / "campaigns.csv"}
    secrets = SecretsFile(kube.paths.hub / "secrets.yaml")
    messages: list[str] = []
    for name in ("fraud-detection", "customer-analytics", "marketing-eu-fr"):
        status = kube.app(name).status
        assert status is not None
        token = read_token(secrets, "default", name)
        for asset, state in status.asset_states.items():
            assert state.endpoint is not None
            assert state.endpoint.hostname.endswith(".m4d-blueprints.svc.cluster.local")
            endpoint = kube.reachable(state.endpoint)
            received = read_asset(endpoint, token, asset).table
            assert received.num_rows > 0, (name, asset)
            columns = [c for d in state.decisions for a in d.actions for c in a.columns]
            source = source_table(str(sources[asset]), list({*received.column_names, *columns}))
            checks = verify(state.decisions, received, source)
            assert checks and all(c.ok for c in checks), [c.message for c in checks]
            messages += [c.message for c in checks]
            assert "bearer token" in refused_without_token(endpoint, asset)
    for expected in (
        "name: every value is 'XXXXXXXX'",
        "customer_id: keyed digests, no original value",
        "contact_email: removed",
        "filter \"status = 'paid'\"",
    ):
        assert any(m.startswith(expected) for m in messages), expected


def test_agents_work_within_their_member_rbac(kube: KubeWorld) -> None:
    """The agents wrote their reports and heartbeats with a kubeconfig whose hub identity is the member's
    agent service account, which may do nothing else on the hub."""
    for name, config in kube.agent_kubeconfigs.items():
        as_agent = KubeCluster.from_kubeconfig("hub", str(config))
        try:
            review = as_agent.manifests.create(
                {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview", "metadata": {}}
            )
            assert review["status"]["userInfo"]["username"] == agent_user(name)
            assert as_agent.list(BlueprintReport, member_namespace(name)).items
            assert as_agent.get(MemberCluster, name).status is not None
            other = next(n for n in CONTEXTS if n != name)
            with pytest.raises(ForbiddenError):
                as_agent.list(M4DApplication, "default")
            with pytest.raises(ForbiddenError):
                as_agent.list(BlueprintReport, member_namespace(other))
            with pytest.raises(ForbiddenError):
                as_agent.get(MemberCluster, other)
            with pytest.raises(ForbiddenError):
                as_agent.list(Plotter)
        finally:
            as_agent.close()
    for name in CONTEXTS:  # every report was written by its member's agent, and by nobody else
        for report in kube.hub.list(BlueprintReport, member_namespace(name)).items:
            stored = kube.hub.manifests.get(API_VERSION, "BlueprintReport", report.name, report.metadata.namespace)
            assert {f["manager"] for f in stored["metadata"]["managedFields"]} == {f"agent-{name}"}


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _pods(member: KubeCluster, namespace: str, blueprint: str, instance: str) -> list[dict[str, Any]]:
    selector = f"{LABEL_BLUEPRINT}={blueprint},{LABEL_INSTANCE}={instance}"
    return member.manifests.list_objects("v1", "Pod", namespace, selector)[0]


def test_modules_are_workloads_run_by_their_members(kube: KubeWorld, cluster_nodes: ClusterNodes) -> None:
    """Each module instance is a ConfigMap and a Deployment + Service (or a Job) on its member, owned by
    its Blueprint, run as pods on the member's node; the agents run no module process themselves."""
    kinds: dict[str, list[str]] = {}
    for name, member in kube.members.items():
        node = cluster_nodes.node(CONTEXTS[name])
        for bp in member.list(Blueprint).items:
            ns = str(bp.metadata.namespace)
            for module in bp.spec.modules:
                obj = object_name(bp.name, module.name)
                config = member.manifests.get("v1", "ConfigMap", f"{obj}-config", ns)
                job = module.deployment.kind == "Job"
                workload = member.manifests.get(*(("batch/v1", "Job") if job else ("apps/v1", "Deployment")), obj, ns)
                for stored in (config, workload):
                    owners = stored["metadata"]["ownerReferences"]
                    assert [(o["kind"], o["uid"]) for o in owners] == [("Blueprint", bp.metadata.uid)]
                    assert stored["metadata"]["labels"][LABEL_BLUEPRINT] == bp.name
                kinds.setdefault(module.module, []).append(workload["kind"])
                pods = _pods(member, ns, bp.name, module.name)
                assert pods and all(p["spec"]["nodeName"] == node.name for p in pods)
                conditions = {c["type"]: c["status"] for c in workload["status"]["conditions"]}
                if job:
                    assert conditions.get("Complete") == "True"
                    assert [p["status"]["phase"] for p in pods] == ["Succeeded"]
                    continue
                assert conditions.get("Available") == "True"
                assert workload["status"]["observedGeneration"] == workload["metadata"]["generation"]
                (pod,) = pods
                container = pod["spec"]["containers"][0]
                assert container["args"][-4:] == ["--host", "$(POD_IP)", "--port", "8080"]  # the template's
                assert pod["status"]["podIP"].startswith(node.pod_prefix)
                assert "listen:" in config["data"][CONFIG_KEY]
    assert kinds["arrow-flight"] == ["Deployment"] * 3  # fraud, customer analytics, marketing (both assets)
    assert kinds["implicit-copy"] == ["Job"]
    for name in CONTEXTS:  # the agents' processes have started no module
        pid = services.running(kube.paths.hub)[f"agent-{name}"]
        assert _children(pid) == []


DENY_FRAUD = """
policies:
  - name: fraud-detection-suspended
    description: Fraud detection is suspended pending review
    when: {intents: [Fraud Detection]}
    deny: true
"""


def _refused(endpoint: Endpoint, token: str) -> bool:
    client = flight.FlightClient(endpoint.url)
    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())], timeout=5)
    try:
        client.get_flight_info(flight.FlightDescriptor.for_path(TX), options)
    except flight.FlightError:
        return True
    finally:
        client.close()
    return False


def _serves(kube: KubeWorld, name: str, token: str) -> bool:
    status = kube.app(name).status
    state = status.asset_states.get(TX) if status is not None and status.ready else None
    if state is None or state.endpoint is None:
        return False
    try:
        return bool(read_asset(kube.reachable(state.endpoint), token, TX, timeout=10).table.num_rows > 0)
    except (AssertionError, M4DError, flight.FlightError):
        return False


def _ready(kube: KubeWorld, name: str) -> Condition:
    status = kube.app(name).status
    ready = find_condition(status.conditions, "Ready") if status is not None else None
    return ready or Condition(type="Ready", status="Unknown", reason="NotReported")


def test_a_policy_deny_reaches_the_running_application(kube: KubeWorld) -> None:
    """A data steward adds a deny to the hub's policy directory: no hub resource changes, yet the next
    Flight request of the application is refused within seconds (the hub notices the file, the plan loses
    the asset, the member's workload goes); removing the file brings the application back."""
    name = "fraud-detection"
    token = read_token(SecretsFile(kube.paths.hub / "secrets.yaml"), "default", name)
    state = kube.app(name).status.asset_states[TX]  # type: ignore[union-attr]
    assert state.endpoint is not None
    endpoint = kube.reachable(state.endpoint)
    assert not _refused(endpoint, token)
    deny = kube.paths.hub / "policies" / "zz-deny.yaml"
    deny.write_text(DENY_FRAUD)
    started = time.monotonic()
    try:
        kube.wait(lambda: _refused(endpoint, token), 90, "the first refused Flight request after the deny")
        print(f"first refused Flight request {time.monotonic() - started:.1f}s after the deny")
        kube.wait(lambda: _ready(kube, name).reason == "Denied", 60, "the application shown as denied")
        assert "fraud-detection-suspended" in _ready(kube, name).message
    finally:
        deny.unlink(missing_ok=True)
    kube.wait(lambda: _serves(kube, name, token), 150, "fraud detection served again once the deny is gone")


def test_deleting_an_application_removes_its_workloads(kube: KubeWorld) -> None:
    """The last test: marketing-eu-fr goes; its Blueprints, their objects and processes go with it."""
    before = {
        name: [bp for bp in member.list(Blueprint).items if bp.spec.application.name == "marketing-eu-fr"]
        for name, member in kube.members.items()
    }
    assert all(before.values())
    kube.hub.delete(M4DApplication, "marketing-eu-fr", "default")

    def gone() -> bool:
        return not any(
            bp.spec.application.name == "marketing-eu-fr"
            for m in kube.members.values()
            for bp in m.list(Blueprint).items
        )

    kube.wait(gone, 60, "marketing-eu-fr's Blueprints pruned from the members")
    for name, blueprints in before.items():
        member = kube.members[name]
        for bp in blueprints:
            for module in bp.spec.modules:
                obj = object_name(bp.name, module.name)
                for api_version, kind, object_of_kind in (
                    ("v1", "ConfigMap", f"{obj}-config"),
                    ("apps/v1", "Deployment", obj),
                    ("v1", "Service", obj),
                    ("batch/v1", "Job", obj),
                ):
                    with pytest.raises(NotFoundError):
                        member.manifests.get(api_version, kind, object_of_kind, bp.metadata.namespace)

    def pods_gone() -> bool:
        return not any(
            _pods(kube.members[name], str(bp.metadata.namespace), bp.name, module.name)
            for name, blueprints in before.items()
            for bp in blueprints
            for module in bp.spec.modules
        )

    kube.wait(pods_gone, 60, "marketing-eu-fr's pods stopped and removed by the nodes")
    reports = [r for r in kube.hub.list(BlueprintReport).items if r.spec.application.name == "marketing-eu-fr"]
    assert reports == []
    assert kube.app("fraud-detection").status.ready  # type: ignore[union-attr]
