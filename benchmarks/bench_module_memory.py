"""Module memory on embedded members: proportional set size (PSS) of module processes and the time until
they serve, with the platform's modules forked from each agent's warm fork server.

    .venv/bin/python benchmarks/bench_module_memory.py --apps 200 --baseline 10

Two parts, one run:
1. Same K module instances (the Flight read module, one application's grant each) started by the agent's
   supervisor twice: as processes of their own (the baseline: a new interpreter importing pyarrow and the
   module code, as before the fork server) and forked from a fork server. Per-module PSS medians, the fork
   server's own PSS, and the time from the first start to all K serving; ratios forked / baseline.
2. The whole flow on the embedded default (hub, sync and two member agents as processes; the sample
   catalog): N applications applied at once (the four samples in turn, under unique names in ten
   namespaces) until every application has settled (served, or denied as the intern's is), then the PSS of
   every module process and of both fork servers, summed. PSS divides each shared page among the processes
   that map it, so the sum is what they cost together; RSS counts shared pages once per process (its sum is
   given for comparison). The projected baseline is the module count times part 1's baseline median.
   Then every application is deleted, timed until no Blueprint, module process or run directory is left.

Modules are idle when measured (no client reads): a read's working memory comes on top, per stream.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from m4d.api import Blueprint, M4DApplication
from m4d.api.blueprint import ModuleAsset
from m4d.api.common import Action, Connection, DataStore
from m4d.cluster.local import LocalCluster
from m4d.controllers.agent.processes import ProcessSpec, Supervisor
from m4d.credentials import CredentialSource
from m4d.demo import services
from m4d.demo.progress import settled
from m4d.demo.setup import bring_up, m4d
from m4d.demo.world import CLUSTERS
from m4d.modules.config import ClientGrant, ModuleConfig
from m4d.modules.forkserver import ForkServer, address_for

FLIGHT = ("m4d", "module", "flight", "--config", "{config}", "--ready-file", "{ready_file}")
NAMESPACES = 10
MB = 1 << 20


@dataclass
class Started:
    seconds: float
    pss: list[int]  # per module process
    rss: list[int]
    uss: list[int]  # its own pages alone
    server_pss: int = 0


def _memory(pids: Iterable[int]) -> tuple[list[int], list[int], list[int]]:
    pss, rss, uss = [], [], []
    for pid in pids:
        info = psutil.Process(pid).memory_full_info()
        pss.append(info.pss)
        rss.append(info.rss)
        uss.append(info.uss)
    return pss, rss, uss


def _specs(root: Path, count: int) -> list[ProcessSpec]:
    data = root / "people.parquet"
    pq.write_table(pa.table({"id": list(range(1000)), "name": [f"n{i}" for i in range(1000)]}), data)
    (root / "secrets.yaml").write_text("{}\n")
    store = DataStore(connection=Connection(kind="file", properties={"path": str(data)}), format="parquet")
    out = []
    for i in range(count):
        config = ModuleConfig(
            name=f"app{i}-read",
            assets=[
                ModuleAsset(
                    asset_id="hr/people",
                    capability="read",
                    source=store,
                    actions=[Action(name="RedactColumn", columns=["name"])],
                )
            ],
            credentials=CredentialSource(kind="file", path=str(root / "secrets.yaml")),
            clients=[ClientGrant.for_token(f"default/app{i}", f"token-{i}", ["hr/people"])],
        )
        out.append(
            ProcessSpec(key=f"default/app{i}/read", command=FLIGHT, workdir=root / f"app{i}", config_text=config.dump())
        )
    return out


def _wait_ready(sup: Supervisor, specs: list[ProcessSpec], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not all((s := sup.state(spec.key)) is not None and s.phase == "Ready" for spec in specs):
        if time.monotonic() > deadline:
            raise SystemExit(f"modules not ready within {timeout:.0f} s")
        time.sleep(0.02)


def supervised(root: Path, count: int, forked: bool) -> Started:
    """K instances started by a supervisor, with or without a fork server (warmed first, as the agent
    does when it starts: its loading is not part of a module's start)."""
    server = ForkServer(address_for(root)) if forked else None
    sup = Supervisor(fork_server=server)
    specs = _specs(root, count)
    try:
        if server is not None and not server.wait_ready():
            raise SystemExit("the fork server did not load")
        began = time.monotonic()
        for spec in specs:
            sup.ensure(spec)
        _wait_ready(sup, specs, 600)
        seconds = time.monotonic() - began
        time.sleep(1)  # past start-up transients
        pss, rss, uss = _memory(sup.pid(s.key) or 0 for s in specs)
        server_pss = _memory([server.pid])[0][0] if server is not None and server.pid else 0
        return Started(seconds, pss, rss, uss, server_pss)
    finally:
        sup.stop_all()


def _applications(samples: Path, count: int) -> str:
    docs = [yaml.safe_load(p.read_text()) for p in sorted(samples.glob("*.yaml"))]
    out = []
    for i in range(count):
        doc = dict(docs[i % len(docs)])
        doc["metadata"] = {"name": f"{doc['metadata']['name']}-{i:04d}", "namespace": f"team{i % NAMESPACES}"}
        out.append(doc)
    return yaml.safe_dump_all(out)


def _module_processes(run: Path) -> list[int]:
    """Module processes of the embedded members: each holds its instance directory's lock (pid file)."""
    pids = []
    for pid_file in run.glob("*/*/*/*/pid"):
        try:
            pid = int(pid_file.read_text())
            if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                pids.append(pid)
        except (OSError, ValueError, psutil.NoSuchProcess):
            continue
    return pids


def _fork_servers(hub: Path) -> list[int]:
    servers = []
    for pid in services.running(hub).values():
        for child in psutil.Process(pid).children():
            if "m4d.modules.forkserver.server" in " ".join(child.cmdline()):
                servers.append(child.pid)
    return servers


@dataclass
class Flow:
    seconds: float  # apply until every application settled
    served: int
    memory: Started
    cleanup: float  # deleting every application until no Blueprint, module process or run directory is left
    left: list[str]


def _live_modules(run: Path) -> list[int]:
    """Every live process whose command line names the run directory (a module, however it was started)."""
    needle = str(run)
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info["status"] != psutil.STATUS_ZOMBIE and needle in " ".join(proc.info["cmdline"] or ()):
            found.append(proc.pid)
    return found


def _leftovers(hub: LocalCluster, members: list[LocalCluster], run: Path) -> list[str]:
    left = [f"application {a.name}" for a in hub.list(M4DApplication).items]
    left += [f"blueprint {m.name}/{b.name}" for m in members for b in m.list(Blueprint).items]
    left += [f"module process {pid}" for pid in _live_modules(run)]
    left += [f"run directory {d.relative_to(run)}" for d in run.glob("*/*/*")] if run.exists() else []
    return left


def flow(root: Path, apps: int, timeout: float) -> Flow:
    """The embedded default with N applications: until all settled, memory, then deleting them all."""
    paths = bring_up(root / "hub", rows=1000, say=lambda stage, message: None)
    hub = LocalCluster(paths.hub / "hub.db", name="hub")
    members = [LocalCluster(paths.hub / "members" / f"{name}.db", name=name) for name, _ in CLUSTERS]
    run = paths.hub / "run"
    try:
        deadline = time.monotonic() + 180
        logs = [paths.hub / "logs" / f"agent-{name}.log" for name, _ in CLUSTERS]
        # The agents warm their fork servers when they start: applications arrive at a live member.
        while not all(log.exists() and "loaded the modules' code" in log.read_text() for log in logs):
            if time.monotonic() > deadline:
                raise SystemExit("the agents' fork servers did not load")
            time.sleep(0.2)
        (root / "apps.yaml").write_text(_applications(paths.applications, apps))
        began = time.monotonic()
        m4d(paths.hub, "apply", "-f", str(root / "apps.yaml"))
        while not settled(hub)[0]:
            if time.monotonic() - began > timeout:
                waiting = settled(hub)[1]
                raise SystemExit(f"not settled within {timeout:.0f} s; {len(waiting)} waiting, e.g. {waiting[:3]}")
            time.sleep(0.5)
        seconds = time.monotonic() - began
        listed = hub.list(M4DApplication).items
        served = sum(1 for a in listed if a.status and any(s.endpoint for s in a.status.asset_states.values()))
        time.sleep(1)
        pss, rss, uss = _memory(_module_processes(run))
        servers = sum(_memory(_fork_servers(paths.hub))[0])

        began = time.monotonic()
        for app in listed:
            hub.delete(M4DApplication, app.name, app.metadata.namespace or "default")
        while left := _leftovers(hub, members, run):
            if time.monotonic() - began > timeout:
                break
            time.sleep(0.5)
        cleanup = time.monotonic() - began
        return Flow(seconds, served, Started(seconds, pss, rss, uss, servers), cleanup, left)
    finally:
        for store in (hub, *members):
            store.close()
        services.stop_all(paths.hub)


def _mb(value: float) -> str:
    return f"{value / MB:,.1f} MB"


def row(*cells: object) -> None:
    print("| " + " | ".join(str(c) for c in cells) + " |")


def report_supervised(count: int, plain: Started, forked: Started) -> None:
    plain_median, forked_median = statistics.median(plain.pss), statistics.median(forked.pss)
    plain_total, forked_total = sum(plain.pss), sum(forked.pss) + forked.server_pss
    print(f"\n{count} Flight read modules, started by the supervisor:")
    row("", "processes of their own (baseline)", "forked", "forked / baseline")
    row("---", "---:", "---:", "---:")
    row("PSS per module, median", _mb(plain_median), _mb(forked_median), f"{forked_median / plain_median:.2f}")
    row(
        "USS per module (its own pages), median",
        _mb(statistics.median(plain.uss)),
        _mb(statistics.median(forked.uss)),
        "",
    )
    row("RSS per module, median", _mb(statistics.median(plain.rss)), _mb(statistics.median(forked.rss)), "")
    row(
        f"PSS of all (forked: with the fork server's {_mb(forked.server_pss)})",
        _mb(plain_total),
        _mb(forked_total),
        f"{forked_total / plain_total:.2f}",
    )
    row(
        "time until all serve",
        f"{plain.seconds:.2f} s",
        f"{forked.seconds:.2f} s",
        f"{forked.seconds / plain.seconds:.2f}",
    )


def report_flow(apps: int, done: Flow, baseline_median: float) -> None:
    whole = done.memory
    total = sum(whole.pss) + whole.server_pss
    projected = len(whole.pss) * baseline_median
    print(f"\nThe embedded default, {apps} applications on 2 members:")
    row("figure", "value")
    row("---", "---:")
    row("time until every application settled", f"{done.seconds:.1f} s")
    row("applications served", done.served)
    row("module processes", len(whole.pss))
    row("PSS of all module processes and both fork servers", _mb(total))
    row("of which the fork servers", _mb(whole.server_pss))
    row("PSS per module, median", _mb(statistics.median(whole.pss)))
    row("USS per module (its own pages), median", _mb(statistics.median(whole.uss)))
    row("RSS summed (shared pages counted once per process)", _mb(sum(whole.rss)))
    row("projected baseline: module processes x the baseline's median PSS", _mb(projected))
    row("ratio", f"{total / projected:.2f}")
    row("deleting them all: until no Blueprint, module process or run directory is left", f"{done.cleanup:.1f} s")
    row(
        "left behind",
        ", ".join(done.left[:5]) + (f" and {len(done.left) - 5} more" if len(done.left) > 5 else "") or "nothing",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=200, help="applications in the whole flow (0: skip it)")
    parser.add_argument("--baseline", type=int, default=10, help="module instances in part 1")
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="m4d-bench-modmem-") as tmp:
        root = Path(tmp)
        (root / "plain").mkdir()
        (root / "forked").mkdir()
        plain = supervised(root / "plain", args.baseline, forked=False)
        forked = supervised(root / "forked", args.baseline, forked=True)
        report_supervised(args.baseline, plain, forked)
        if args.apps:
            report_flow(args.apps, flow(root / "flow", args.apps, args.timeout), statistics.median(plain.pss))


if __name__ == "__main__":
    main()
