"""Scale: N applications applied at once over the sample catalog, M members, until every Plotter is
committed and every member has synced it; on the embedded default. Reports applications per second, the
time, the hub's memory, the API requests per reconcile and the CPU time per application (steadier than
the wall clock on a shared machine), against a baseline measured in the same run.

    .venv/bin/python benchmarks/bench_scale.py --apps 500 2000 5000 --members 2 50

(defaults: --apps 500 --members 2, what `make bench` runs). `--cleanup` then deletes every application
at once and times it until nothing of them is left: no application or Plotter, no Blueprint file in the
GitOps repository, every member at the branch head, no access token in the secrets file.
`--store kube` runs the hub on a real kube-apiserver (the test environment: etcd and three API servers,
`make testenv`), M = 2 (its two member API servers, which the sync applies Blueprints to); its baseline
is the same API server alone.

Each (N, M) runs in a fresh hub directory prepared as the demo's (sample catalog and policies, the two
modules, a storage account), with M members onboarded (regions eu-de and eu-fr in turn) sending
heartbeats every 5 s, and the sync (`m4d sync`) in its own process. The hub's controllers run in this
process (its workers, informers and the request counts are read directly); agents and modules do not run.
Applications cycle through the four samples under unique names in ten namespaces: three of four get a
Plotter (the intern's is denied); the marketing one reads a copy.

Timed: from the first application written until every application is reconciled (status with its
generation observed), every Plotter has a committed revision, and every member has applied the branch
head. Baseline: the embedded store alone doing the writes the flow cannot avoid for the same N (create
the application, create its Plotter, write both statuses), one after another, without any controller.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from m4d.api import M4DApplication, MemberCluster  # noqa: E402
from m4d.api.application import M4DApplicationStatus  # noqa: E402
from m4d.api.crd import all_crds  # noqa: E402
from m4d.api.parse import Document, parse_document  # noqa: E402
from m4d.api.plotter import Plotter, PlotterStatus  # noqa: E402
from m4d.cluster.connect import HubLayout  # noqa: E402
from m4d.cluster.interface import Cluster  # noqa: E402
from m4d.cluster.kube import KubeCluster  # noqa: E402
from m4d.cluster.local import LocalCluster  # noqa: E402
from m4d.controllers.agent.heartbeat import run_heartbeat  # noqa: E402
from m4d.controllers.hub import HubConfig, build_hub  # noqa: E402
from m4d.controllers.registry.onboarding import onboard  # noqa: E402
from m4d.demo import services, world  # noqa: E402
from m4d.generator.cluster_template import load_template  # noqa: E402
from m4d.gitops.settings import GitOpsSettings  # noqa: E402
from m4d.runtime.manager import Manager  # noqa: E402
from tests.testenv.servers import running  # noqa: E402
from tests.unit.generator.plans import plotter  # noqa: E402

NAMESPACES = 10
HEARTBEAT = 5.0
POLL = 0.25


def m4d(hub: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "m4d.cli", "--hub", str(hub), *args], check=True, capture_output=True)


def samples(paths: world.DemoPaths) -> list[dict[str, Any]]:
    return [yaml.safe_load(p.read_text()) for p in sorted(paths.applications.glob("*.yaml"))]


def applications(paths: world.DemoPaths, count: int) -> list[M4DApplication]:
    docs = samples(paths)
    out = []
    for i in range(count):
        doc = json.loads(json.dumps(docs[i % len(docs)]))
        doc["metadata"] = {"name": f"{doc['metadata']['name']}-{i:05d}", "namespace": f"team{i % NAMESPACES}"}
        out.append(parse_document(Document(f"app {i}", 1, doc)))
    return out


def prepare(hub: Path, members: int) -> tuple[world.DemoPaths, GitOpsSettings]:
    paths = world.prepare(hub, rows=1000)
    layout = HubLayout(paths.hub)
    settings = GitOpsSettings.resolve(layout.gitops_repo, layout.root)
    store = LocalCluster(layout.hub_db, name="hub")
    try:
        template = load_template("plain")
        for i in range(members):
            onboard(store, settings, f"member{i:02d}", template, {"region": ("eu-de", "eu-fr")[i % 2]})
    finally:
        store.close()
    m4d(paths.hub, "apply", "-f", str(paths.descriptors), "-f", str(paths.resources))
    return paths, settings


@dataclass
class Done:
    seconds: float
    applications: int
    plotters: int
    commits: int
    requests: int
    reconciles: int
    by_verb: dict[str, int]
    by_controller: dict[str, int]
    rss_mb: float
    peak_rss_mb: float
    hub_cpu: float  # seconds of CPU: the hub's process and the git commands it ran
    sync_cpu: float  # the sync process and its git commands
    cleanup: Cleanup | None = None


@dataclass
class Cleanup:
    seconds: float
    left: dict[str, int]  # what is still there when the time ran out (nothing when settled)
    requests: dict[str, int] = field(default_factory=dict)  # the hub's API requests meanwhile


def _query(db: Path, sql: str) -> Any:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return conn.execute(sql).fetchone()


def _leftovers(db: Path, repo: Path, secrets: Path) -> dict[str, int]:
    """What deleting every application must remove: the applications and Plotters, their Blueprints in
    the GitOps repository (and on every member: each applied the branch head), their access tokens."""
    apps, plotters = _query(
        db, "SELECT count(*) FILTER (WHERE kind='M4DApplication'), count(*) FILTER (WHERE kind='Plotter') FROM objects"
    )
    files = subprocess.run(
        ["git", "--git-dir", str(repo), "ls-tree", "-r", "--name-only", "main", "clusters"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    head = subprocess.run(
        ["git", "--git-dir", str(repo), "rev-parse", "main"], capture_output=True, text=True, check=True
    ).stdout.strip()
    behind = _query(
        db,
        "SELECT count(*) FROM objects WHERE kind='MemberCluster' AND "
        f"coalesce(json_extract(body,'$.status.appliedRevision'), '') != '{head}'",
    )[0]
    tokens = yaml.safe_load(secrets.read_text()) if secrets.exists() else {}
    left = {
        "applications": apps,
        "Plotters": plotters,
        "Blueprint files": sum("/blueprints/" in f for f in files),
        "members behind": behind,
        "access tokens": sum(k.startswith("m4d/applications/") for k in tokens or {}),
    }
    return {k: v for k, v in left.items() if v}


def clean_up(layout: HubLayout, apps: list[M4DApplication], limit: float = 600.0) -> Cleanup:
    """Delete every application at once; until nothing of them is left (or `limit` seconds)."""
    user = LocalCluster(layout.hub_db, name="hub")
    start = time.monotonic()
    deleter = threading.Thread(target=lambda: [user.delete(M4DApplication, a.name, a.namespace) for a in apps])
    deleter.start()
    try:
        while True:
            time.sleep(POLL)
            left = _leftovers(layout.hub_db, layout.gitops_repo, layout.secrets_file)
            if (not left and not deleter.is_alive()) or time.monotonic() - start > limit:
                return Cleanup(time.monotonic() - start, left)
    finally:
        deleter.join()
        user.close()


class Progress:
    """Follows the hub's own informers (their handlers run on each change): applications reconciled,
    Plotters committed, members' applied revisions. Looking costs nothing per object, so the check does
    not grow with N or take the hub's CPU (reading the store or the API for it would, every POLL)."""

    def __init__(self, manager: Manager, hub: Cluster) -> None:
        self.lock = threading.Lock()
        self.apps: dict[tuple[str | None, str], bool] = {}
        self.plotters: dict[tuple[str | None, str], bool] = {}
        self.applied: dict[str, str | None] = {}
        manager.informers.get(hub, M4DApplication).add_handler(self._app)
        manager.informers.get(hub, Plotter).add_handler(self._plotter)
        manager.informers.get(hub, MemberCluster).add_handler(self._member)

    def _app(self, event: str, old: M4DApplication | None, new: M4DApplication | None) -> None:
        obj = new or old
        assert obj is not None
        with self.lock:
            if new is None:
                self.apps.pop((obj.namespace, obj.name), None)
            else:
                seen = new.status.observed_generation if new.status is not None else None
                self.apps[(obj.namespace, obj.name)] = seen == new.metadata.generation

    def _plotter(self, event: str, old: Plotter | None, new: Plotter | None) -> None:
        obj = new or old
        assert obj is not None
        with self.lock:
            if new is None:
                self.plotters.pop((obj.namespace, obj.name), None)
            else:
                self.plotters[(obj.namespace, obj.name)] = bool(new.status and new.status.committed_revision)

    def _member(self, event: str, old: MemberCluster | None, new: MemberCluster | None) -> None:
        obj = new or old
        assert obj is not None
        with self.lock:
            if new is None:
                self.applied.pop(obj.name, None)
            else:
                self.applied[obj.name] = new.status.applied_revision if new.status is not None else None

    def settled(self, repo: Path, apps: int) -> tuple[bool, int]:
        """(every application reconciled, every Plotter committed and synced everywhere; Plotters so far)"""
        with self.lock:
            seen, plotters = sum(self.apps.values()), len(self.plotters)
            if seen < apps or not all(self.plotters.values()):
                return False, plotters
            applied = set(self.applied.values())
        head = subprocess.run(
            ["git", "--git-dir", str(repo), "rev-parse", "main"], capture_output=True, text=True, check=True
        ).stdout.strip()
        return applied == {head}, plotters


def _commits(repo: Path) -> int:
    count = ["git", "--git-dir", str(repo), "rev-list", "--count", "main"]
    out = subprocess.run(count, check=False, capture_output=True, text=True)
    return int(out.stdout.strip() or 0)


def _cpu_self() -> float:
    """CPU seconds of this process and of the children it waited for (its git commands)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _cpu_of(pid: int) -> float:
    """CPU seconds of process `pid` and of the children it waited for (utime stime cutime cstime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _status_mb(field: str) -> float:
    """A size from /proc/self/status (VmRSS: resident now, VmHWM: the peak), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(
    manager: Manager, hub: Cluster, user: Cluster, progress: Progress, repo: Path, sync: int, apps: list[M4DApplication]
) -> Done:
    """Once the hub is idle: `user` writes the applications (one thread, as fast as the store takes them);
    timed until every one is settled, committed and applied by every member; with what it cost."""
    while not manager.idle():
        time.sleep(POLL)
    requests_before, by_verb_before = sum(hub.requests.values()), dict(hub.requests)
    reconciles_before = {r.controller.name: r.stats.reconciles for r in manager.runners}
    commits_before = _commits(repo)
    cpu_before, sync_before = _cpu_self(), _cpu_of(sync)
    start = time.monotonic()
    writer = threading.Thread(target=lambda: [user.create(a) for a in apps])
    writer.start()
    while True:
        time.sleep(POLL)
        settled, plotters = progress.settled(repo, len(apps))
        if settled and not writer.is_alive():
            break
        if time.monotonic() - start > 3600:
            raise RuntimeError(f"not settled after an hour: {manager.failing()}")
    seconds = time.monotonic() - start
    hub_cpu, sync_cpu = _cpu_self() - cpu_before, _cpu_of(sync) - sync_before
    writer.join()
    reconciles = {r.controller.name: r.stats.reconciles - reconciles_before[r.controller.name] for r in manager.runners}
    return Done(
        seconds=seconds,
        applications=len(apps),
        plotters=plotters,
        commits=_commits(repo) - commits_before,
        requests=sum(hub.requests.values()) - requests_before,
        reconciles=sum(reconciles.values()),
        by_verb={k: v - by_verb_before.get(k, 0) for k, v in hub.requests.items() if v - by_verb_before.get(k, 0)},
        by_controller=reconciles,
        rss_mb=_status_mb("VmRSS"),
        peak_rss_mb=_status_mb("VmHWM"),
        hub_cpu=hub_cpu,
        sync_cpu=sync_cpu,
    )


def run_hub(
    paths: world.DemoPaths, settings: GitOpsSettings, apps: list[M4DApplication], workers: int, cleanup: bool
) -> Done:
    layout = HubLayout(paths.hub)
    hub = LocalCluster(layout.hub_db, name="hub")
    config = replace(HubConfig.load(layout), gitops=settings, workers=workers)
    built = build_hub(hub, config)
    manager = Manager(built.controllers)
    stop = threading.Event()
    beats = LocalCluster(layout.hub_db, name="hub")
    beaters = [
        threading.Thread(target=run_heartbeat, args=(beats, m.name, stop, HEARTBEAT), daemon=True)
        for m in beats.list(MemberCluster).items
    ]
    for thread in beaters:
        thread.start()
    sync = services.start(paths.hub, services.Service("sync", ("sync",)))
    progress = Progress(manager, hub)
    manager.start()
    try:
        user = LocalCluster(layout.hub_db, name="hub")
        try:
            done = measure(manager, hub, user, progress, layout.gitops_repo, sync, apps)
        finally:
            user.close()
        if cleanup:
            before = dict(hub.requests)
            done.cleanup = clean_up(layout, apps)
            done.cleanup.requests = {k: v - before.get(k, 0) for k, v in hub.requests.items() if v - before.get(k, 0)}
        return done
    finally:
        stop.set()
        manager.stop()
        built.close()
        services.stop_all(paths.hub)
        for thread in beaters:
            thread.join(10)
        beats.close()
        hub.close()


KUBE_BASELINE: list[float] = []  # the API server alone (seconds, CPU seconds), measured after the flow
KUBE_MEMBERS = {"eu-de-1": "member1", "eu-fr-1": "member2"}  # member cluster -> test environment context


def _in_namespace(app: M4DApplication, namespace: str) -> M4DApplication:
    return app.model_copy(update={"metadata": app.metadata.model_copy(update={"namespace": namespace})})


def run_kube(base: Path, count: int, workers: int) -> tuple[Done, list[M4DApplication]]:
    """The same flow with the hub on a real kube-apiserver (the test environment's; its members are
    two more kube-apiservers the sync applies Blueprints to). M = 2."""
    with running(base / "testenv") as env:
        admin = {"KUBECONFIG": str(env.kubeconfig)}
        clusters = {api.context: KubeCluster.from_kubeconfig(api.context, str(env.kubeconfig)) for api in env.clusters}
        hub = clusters["hub"]
        for cluster in clusters.values():
            cluster.manifests.install_crds(all_crds(), "m4d-bench")
        for ns in ("m4d-system", *(f"team{i}" for i in range(NAMESPACES))):
            hub.ensure_namespace(ns)
        paths = world.prepare(base / "hub", rows=1000)
        layout = HubLayout(paths.hub)
        settings = GitOpsSettings.resolve(layout.gitops_repo, layout.root)
        cli = [sys.executable, "-m", "m4d.cli", "--hub", str(paths.hub), "--kube-context", "hub"]
        for name, region in world.CLUSTERS:
            onboard_cmd = [*cli, "cluster", "onboard", name, "--template", "plain", "--region", region]
            subprocess.run(onboard_cmd, check=True, capture_output=True, env={**os.environ, **admin})
        apply_cmd = [*cli, "apply", "-f", str(paths.descriptors), "-f", str(paths.resources)]
        subprocess.run(apply_cmd, check=True, capture_output=True, env={**os.environ, **admin})
        apps = applications(paths, count)
        config = replace(HubConfig.load(layout), gitops=settings, workers=workers)
        built = build_hub(hub, config)
        manager = Manager(built.controllers)
        stop = threading.Event()
        beats = KubeCluster.from_kubeconfig("hub", str(env.kubeconfig))
        beaters = [
            threading.Thread(target=run_heartbeat, args=(beats, name, stop, HEARTBEAT), daemon=True)
            for name in KUBE_MEMBERS
        ]
        for thread in beaters:
            thread.start()
        contexts = [f"--member-context={name}={context}" for name, context in KUBE_MEMBERS.items()]
        sync = services.start(paths.hub, services.Service("sync", ("--kube-context", "hub", "sync", *contexts)), admin)
        user = KubeCluster.from_kubeconfig("hub", str(env.kubeconfig))
        progress = Progress(manager, hub)
        manager.start()
        try:
            done = measure(manager, hub, user, progress, layout.gitops_repo, sync, apps)
            # The baseline: the same API server alone, once the flow stopped, in namespaces of its own.
            stop.set()
            manager.stop()
            services.stop_all(paths.hub)
            moved = [_in_namespace(a, f"base-{a.namespace}") for a in apps]
            for ns in sorted({a.namespace or "default" for a in moved}):
                hub.ensure_namespace(ns)
            KUBE_BASELINE[:] = store_alone(user, moved)
            return done, apps
        finally:
            stop.set()
            manager.stop()
            built.close()
            services.stop_all(paths.hub)
            for thread in beaters:
                thread.join(10)
            for cluster in (*clusters.values(), beats, user):
                cluster.close()


def baseline(base: Path, apps: list[M4DApplication]) -> tuple[float, float]:
    """The embedded store alone: each application created, its Plotter created, both statuses written.
    (seconds, CPU seconds)"""
    store = LocalCluster(base / "baseline.db", name="baseline")
    try:
        return store_alone(store, apps)
    finally:
        store.close()


def store_alone(store: Cluster, apps: list[M4DApplication]) -> tuple[float, float]:
    start, cpu = time.monotonic(), _cpu_self()
    for app in apps:
        created = store.create(app)
        plan = plotter(app.name, app.metadata.namespace or "default", uid=created.metadata.uid or "")
        plan.metadata.uid = plan.metadata.generation = None
        made = store.create(plan)
        created.status = M4DApplicationStatus(ready=True, observed_generation=1)
        store.update_status(created)
        made.status = PlotterStatus(committed_revision="0" * 40)
        store.update_status(made)
    return time.monotonic() - start, _cpu_self() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, nargs="+", default=[500])
    parser.add_argument("--members", type=int, nargs="+", default=[2])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--cleanup", action="store_true", help="then delete every application, timed")
    parser.add_argument(
        "--store", choices=("embedded", "kube"), default="embedded", help="kube: the hub on a real kube-apiserver"
    )
    args = parser.parse_args()
    results: list[tuple[int, int, Done, float]] = []
    for members in args.members:
        for count in args.apps:
            load_before = os.getloadavg()[0]
            with tempfile.TemporaryDirectory() as tmp:
                if args.store == "kube":
                    done, apps = run_kube(Path(tmp), count, args.workers)
                else:
                    paths, settings = prepare(Path(tmp) / "hub", members)
                    apps = applications(paths, count)
                    done = run_hub(paths, settings, apps, args.workers, args.cleanup)
                base, base_cpu = KUBE_BASELINE if args.store == "kube" else baseline(Path(tmp), apps)
            results.append((count, members, done, base))
            load = f"{load_before:.1f} to {os.getloadavg()[0]:.1f}"
            print(
                f"N={count} M={members}: {done.seconds:.1f} s, {count / done.seconds:.1f} applications/s "
                f"(store alone {count / base:.1f}/s, ratio {base / done.seconds:.2f}); "
                f"{done.plotters} Plotters in {done.commits} commits; hub RSS {done.rss_mb:.0f} MB "
                f"(peak {done.peak_rss_mb:.0f}); {done.requests / max(done.reconciles, 1):.2f} API requests "
                f"per reconcile ({done.requests} for {done.reconciles}); CPU {done.hub_cpu:.1f} s hub "
                f"+ {done.sync_cpu:.1f} s sync = {1000 * (done.hub_cpu + done.sync_cpu) / count:.0f} ms per "
                f"application (store alone {1000 * base_cpu / count:.0f}); load average {load}",
                flush=True,
            )
            print(f"    requests: {done.by_verb}; reconciles: {done.by_controller}", flush=True)
            if done.cleanup is not None:
                gone = done.cleanup
                what = f"left: {gone.left}" if gone.left else "nothing left"
                print(f"    cleanup of {count}: {gone.seconds:.1f} s, {what}; requests {gone.requests}", flush=True)
    by_members: dict[int, dict[int, float]] = {}
    for count, members, done, _ in results:
        by_members.setdefault(members, {})[count] = done.seconds
    for members, times in sorted(by_members.items()):
        small, large = min(times), max(times)
        if small != large:
            growth = times[large] / times[small]
            print(f"M={members}: time({large}) / time({small}) = {growth:.1f} (linear: {large / small:.1f})")


if __name__ == "__main__":
    main()
