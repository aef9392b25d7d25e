"""Latency from applying an M4DApplication to its status Ready, on the embedded default, with stage shares.

    .venv/bin/python benchmarks/bench_latency.py --runs 7

A world like the demo's is brought up once (hub controllers, sync, two agents; modules registered). Each
run applies a new application reading the sample transactions (HashColumn on one column) and polls the
hub every 10 ms for the moment each stage completes:

  decision  the application's status records the policy decisions and a Plotter exists
  commit    the Plotter's Blueprints are committed to the GitOps repository
  sync      the member cluster has applied that commit (MemberCluster.status.appliedRevision)
  deploy    the member's agent reports the module ready (BlueprintReport)
  report    the application is Ready with its endpoint

Baseline, measured in the same run: starting the same Flight module by hand on the same configuration
until it serves (the part of the latency no control plane can avoid). The figure is the median
end-to-end latency and its ratio to that baseline.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from m4d.api import BlueprintReport, M4DApplication, MemberCluster, Plotter
from m4d.cluster.local import LocalCluster
from m4d.demo import services
from m4d.demo.setup import bring_up, m4d
from m4d.errors import NotFoundError

STAGES = ("decision", "commit", "sync", "deploy", "report")
POLL = 0.01


def _stage_times(hub: LocalCluster, repo: Path, name: str, start: float, timeout: float = 120.0) -> dict[str, float]:
    done: dict[str, float] = {}
    commit: str | None = None
    while len(done) < len(STAGES):
        now = time.monotonic() - start
        if now > timeout:
            raise RuntimeError(f"{name}: stages reached {sorted(done)} within {timeout}s")
        app = hub.get(M4DApplication, name, "default")
        state = app.status.asset_states.get("finance/transactions") if app.status else None
        if "decision" not in done and state is not None and state.decisions:
            done["decision"] = now
        if "commit" not in done:
            try:
                plotter = hub.get(Plotter, name, "default")
                commit = plotter.status.committed_revision if plotter.status else None
            except NotFoundError:  # not created yet
                commit = None
            if commit:
                done["commit"] = now
        if "commit" in done and "sync" not in done:
            member = hub.get(MemberCluster, "eu-de-1")
            applied = member.status.applied_revision if member.status else None
            if applied and commit and _contains(repo, applied, commit):
                done["sync"] = now
        if "deploy" not in done:
            reports = [r for r in hub.list(BlueprintReport).items if r.spec.application.name == name]
            if reports and all(r.spec.phase == "Ready" for r in reports):
                done["deploy"] = now
        if "report" not in done and app.status is not None and app.status.ready and state and state.endpoint:
            done["report"] = now
        time.sleep(POLL)
    # A later stage seen in the same poll as an earlier one finished no earlier than it.
    last = 0.0
    for stage in STAGES:
        last = done[stage] = max(done[stage], last)
    return done


def _contains(repo: Path, applied: str, commit: str) -> bool:
    """Has the member applied `commit` (the applied revision is it, or a descendant of it)?"""
    check = subprocess.run(["git", "--git-dir", str(repo), "merge-base", "--is-ancestor", commit, applied], check=False)
    return check.returncode == 0


def _baseline(hub_dir: Path) -> float:
    """Start the Flight module directly on an instance configuration the agent wrote, until it serves."""
    config = next((hub_dir / "run" / "eu-de-1").rglob("config.yaml"))
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "ready.json"
        start = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "m4d.cli", "module", "flight", "--config", str(config), "--ready-file", str(ready)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while not ready.exists():
                time.sleep(POLL)
            return time.monotonic() - start
        finally:
            process.terminate()
            process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = bring_up(Path(tmp) / "hub", rows=10_000, say=lambda stage, message: None, heartbeat=1.0)
        hub = LocalCluster(paths.hub / "hub.db")
        template = yaml.safe_load((paths.applications / "fraud-detection.yaml").read_text())
        runs: list[dict[str, float]] = []
        baselines: list[float] = []
        try:
            for i in range(args.runs + 1):  # the first run warms caches and is not counted
                template["metadata"]["name"] = f"latency-{i}"
                doc = Path(tmp) / f"app-{i}.yaml"
                doc.write_text(yaml.safe_dump(template))
                start = time.monotonic()
                m4d(paths.hub, "apply", "-f", str(doc))
                times = _stage_times(hub, paths.hub / "gitops.git", f"latency-{i}", start)
                baselines.append(_baseline(paths.hub))
                if i > 0:
                    runs.append(times)
                    print(f"run {i}: " + "  ".join(f"{s} {times[s] * 1000:6.0f} ms" for s in STAGES), flush=True)
        finally:
            hub.close()
            services.stop_all(paths.hub)
    total = statistics.median(r["report"] for r in runs)
    base = statistics.median(baselines[1:])
    print(f"\napply → Ready, median of {len(runs)} runs: {total * 1000:.0f} ms")
    print(f"baseline (the Flight module started by hand until it serves): {base * 1000:.0f} ms")
    print(f"ratio: {total / base:.2f}x the baseline")
    print("stage shares (median of each stage's duration):")
    for stage in STAGES:
        durations = [r[stage] - (r[STAGES[STAGES.index(stage) - 1]] if stage != STAGES[0] else 0.0) for r in runs]
        median = statistics.median(durations)
        print(f"  {stage:9} {median * 1000:7.0f} ms  {100 * median / total:5.1f} %")


if __name__ == "__main__":
    main()
