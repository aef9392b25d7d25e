"""Commit → Blueprint applied on the member: through real Argo CD, next to the embedded local sync.

    python benchmarks/bench_sync_latency.py [--runs 15]

One cluster folder, two members of the test environment's kube-apiservers: Argo CD v3.6.1 (the generated
Application, a refresh sent right after each push as a Git host's webhook does) delivers it to member2;
the local sync (`m4d sync`'s loop, polling the branch every 0.2 s) to member1. Each run commits a changed
Blueprint and times, from the moment the push returns, until each member serves the new spec. The
baseline is the local sync, measured in the same run on the same commits. Needs `make testenv` (the
servers, Argo CD included) and `make argocd-redis`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from m4d.api import Blueprint
from m4d.api.crd import all_crds
from m4d.cluster.kube import KubeCluster
from m4d.cluster.local import LocalCluster
from m4d.controllers.sync.local import LocalSync
from m4d.generator.argocd import app_project, cluster_application
from m4d.generator.config import RenderConfig
from m4d.generator.tree import render_tree
from tests.integration.argocd.delivery import CLUSTER, Repo, synced_at, wait_application
from tests.integration.cluster.fixtures import argocd_crd_documents
from tests.integration.generator.gitservers import git_daemon
from tests.testenv import argocd as argocd_env
from tests.testenv import servers
from tests.unit.generator.plans import member, plotter

FIELD_MANAGER = "m4d-bench"
NAMESPACE = "m4d-blueprints"
TIMEOUT = 60.0


def admin(api: servers.ApiServer) -> KubeCluster:
    return KubeCluster.from_kubeconfig(context=api.context, config_file=str(api.kubeconfig), name=api.name)


def columns(run: int) -> tuple[str, ...]:
    return ("ssn", f"column{run}")


def applied(cluster: KubeCluster, wanted: tuple[str, ...]) -> bool:
    items = cluster.list(Blueprint, NAMESPACE).items
    return bool(items) and items[0].spec.modules[0].assets[0].actions[0].columns == list(wanted)


def time_until_both(
    local: KubeCluster, argo: KubeCluster, wanted: tuple[str, ...], start: float
) -> tuple[float, float]:
    done: dict[str, float] = {}
    while len(done) < 2:
        for name, cluster in (("local", local), ("argo", argo)):
            if name not in done and applied(cluster, wanted):
                done[name] = time.perf_counter() - start
        if time.perf_counter() - start > TIMEOUT:
            raise RuntimeError(f"not applied within {TIMEOUT:g}s: {sorted(set(('local', 'argo')) - set(done))}")
        time.sleep(0.005)
    return done["local"], done["argo"]


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="m4d-bench-sync-") as tmp, servers.running() as env:
        root = Path(tmp)
        hub_kube = admin(env.hub)
        hub_kube.manifests.install_crds(argocd_crd_documents(), FIELD_MANAGER)
        local, argo = admin(env.members[0]), admin(env.members[1])
        for cluster in (local, argo):
            cluster.manifests.install_crds(all_crds(), FIELD_MANAGER)
        ports = [int(urlsplit(api.url).port or 443) for api in env.clusters]
        with argocd_env.running(env.hub, ports, root / "argocd", hub_kube) as argocd, git_daemon(root) as (base, _):
            repo = Repo(root)
            config = RenderConfig(repo_url=f"{base}/gitops.git")
            cluster = member(CLUSTER, namespace=NAMESPACE)
            hub = LocalCluster(root / "hub.db", name="hub")  # the local sync's registry
            hub.create(cluster)
            sync = LocalSync(repo.bare, hub, lambda name: local)
            stop = threading.Event()
            follower = threading.Thread(target=sync.run, args=(stop,), daemon=True)

            def tree(run: int) -> dict[str, bytes]:
                return dict(
                    render_tree(
                        [plotter("bench", clusters=(CLUSTER,), redact=columns(run))], [cluster], config
                    ).rendered.files
                )

            argocd.register_cluster(CLUSTER, env.members[1])
            first = repo.commit(tree(0), "first")
            application = cluster_application(config, cluster)
            for obj in (app_project(config, [cluster]), application):
                argocd.hub.manifests.apply(obj, FIELD_MANAGER)
            app = application["metadata"]["name"]
            follower.start()
            wait_application(argocd, app, lambda a: synced_at(a, first), "first sync")
            time_until_both(local, argo, columns(0), time.perf_counter())
            local_s: list[float] = []
            argo_s: list[float] = []
            try:
                for run in range(1, args.runs + 1):
                    repo.commit(tree(run), f"run {run}")
                    start = time.perf_counter()
                    argocd.refresh(app)  # the push's webhook
                    try:
                        took_local, took_argo = time_until_both(local, argo, columns(run), start)
                    except RuntimeError as exc:
                        status = (argocd.application(app) or {}).get("status") or {}
                        raise RuntimeError(
                            f"run {run}: {exc}; Argo CD's sync {status.get('sync')}, operationState "
                            f"{status.get('operationState')}\n{argocd.log_tails()}"
                        ) from None
                    print(f"  run {run:2d}: local sync {took_local:.3f} s, Argo CD {took_argo:.3f} s", flush=True)
                    local_s.append(took_local)
                    argo_s.append(took_argo)
            finally:
                stop.set()
                follower.join(timeout=10)
                argocd.remove_all()
                hub.close()
            for cluster_store in (local, argo, hub_kube):
                cluster_store.close()
    median_local, median_argo = statistics.median(local_s), statistics.median(argo_s)
    print(f"commit -> Blueprint applied on the member, {args.runs} runs")
    print(f"  local sync (baseline) : median {median_local:.3f} s, p90 {quantile(local_s, 0.9):.3f} s")
    print(f"  Argo CD + refresh     : median {median_argo:.3f} s, p90 {quantile(argo_s, 0.9):.3f} s")
    print(f"  ratio Argo CD / local sync (medians): {median_argo / median_local:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
