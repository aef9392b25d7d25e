"""Revocation time: from a data steward's policy or catalog edit to the running application's stream
reflecting it, on the embedded default (built-in catalog and policy engine).

    .venv/bin/python benchmarks/bench_revocation.py --runs 7

The demo's world is brought up once (hub controllers, sync, two agents, modules registered) and Fraud
Detection applied; it reads `finance/transactions` through a running Flight module. Each run then times,
from the moment the edited file is in place:

  deny     a policy file denying Fraud Detection added to the hub's policy directory, until the first
           refused Flight request of the application (`get_flight_info` with its token, every 10 ms)
  redact   a catalog edit tagging the `country` column PII.Identifier (which the sample policies hash
           for this intent), until the application's next read returns it hashed: the running module
           applies its new configuration in place
  restore  each edit undone, until the application reads as before (the loosening path: plan, commit,
           sync, deploy); printed, not the figure

With `--policy fybrik` the hub asks a Fybrik-compatible policy connector instead (the test suite's
server of the Fybrik policy-manager spec, answering from the same policy directory), which cannot tell
when its answers change: the hub asks it again every `--recheck` seconds, so a deny takes up to that
interval more. The catalog stays the built-in one.

With `--kube` the same runs go through the test environment's kube-apiservers (the flow of
tests/e2e/test_kube_flow.py: hub controllers, a sync applying each member's folder, one agent per member;
modules are Deployments run by the node emulator); needs `make testenv`. A new transform there reaches the
module as a new ConfigMap and a rolled Deployment.

Baseline, measured in the same run: the same Flight module started by hand on its instance configuration
until it serves, which is the least a change enforced by restarting the module would take. The figure is
the median time of each tightening and its ratio to that baseline.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as flight
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from m4d.api import Blueprint, M4DApplication
from m4d.api.common import Endpoint
from m4d.cluster.kube import KubeCluster
from m4d.cluster.local import LocalCluster
from m4d.connectors.policy import BuiltinPolicyEngine
from m4d.controllers.agent.workloads import CONFIG_KEY, object_name
from m4d.credentials.app_tokens import read_token
from m4d.credentials.local import SecretsFile
from m4d.demo import services
from m4d.demo.setup import bring_up, m4d
from tests.e2e.test_kube_flow import kube_world
from tests.integration.governance.conftest import policy_handler
from tests.integration.governance.fybrik_server import SpecServer, serve
from tests.testenv import servers
from tests.testenv.workloads import running_nodes

Store = LocalCluster | KubeCluster
APP = "fraud-detection"
ASSET = "finance/transactions"
POLL = 0.01
TIMEOUT = 120.0
DENY = {
    "policies": [
        {
            "name": "fraud-detection-suspended",
            "description": "Fraud detection is suspended pending review",
            "when": {"intents": ["Fraud Detection"]},
            "deny": True,
        }
    ]
}


def replace_file(path: Path, text: str) -> None:
    """Put `text` in place at once, as an editor saving the file does (never read half-written)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


def until(check: Callable[[], bool], what: str, start: float) -> float:
    while not check():
        if time.monotonic() - start > TIMEOUT:
            raise RuntimeError(f"{what}: not within {TIMEOUT:g}s")
        time.sleep(POLL)
    return time.monotonic() - start


class Application:
    """Fraud Detection as its workload sees it: its endpoint and token, as the hub publishes them."""

    def __init__(self, hub: Store, hub_dir: Path, reach: Callable[[Endpoint], Endpoint] = lambda e: e) -> None:
        self.hub, self.hub_dir, self.reach = hub, hub_dir, reach
        self.refusals: collections.Counter[str] = collections.Counter()

    def ready(self) -> bool:
        status = self.hub.get(M4DApplication, APP, "default").status
        state = status.asset_states.get(ASSET) if status else None
        return bool(status and status.ready and state and state.endpoint)

    def connect(self) -> None:
        status = self.hub.get(M4DApplication, APP, "default").status
        endpoint = status.asset_states[ASSET].endpoint if status is not None else None
        assert endpoint is not None, "the application has no endpoint"
        self.url = self.reach(endpoint).url  # on Kubernetes: the Service's name resolved to a ready pod
        token = read_token(SecretsFile(self.hub_dir / "secrets.yaml"), "default", APP)
        self.options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())], timeout=5)

    def refused(self) -> bool:
        client = flight.FlightClient(self.url)
        try:
            client.get_flight_info(flight.FlightDescriptor.for_path(ASSET), self.options)
        except flight.FlightError as error:
            self.refusals[type(error).__name__] += 1
            return True
        finally:
            client.close()
        return False

    def countries(self) -> set[str] | None:
        """The `country` values the application reads now (None: refused or not reachable)."""
        client = flight.FlightClient(self.url)
        descriptor = flight.FlightDescriptor.for_command(f'{{"asset": "{ASSET}", "columns": ["country"]}}'.encode())
        try:
            info = client.get_flight_info(descriptor, self.options)
            tables = [client.do_get(e.ticket, self.options).read_all() for e in info.endpoints]
        except flight.FlightError:
            return None
        finally:
            client.close()
        return set(pa.concat_tables(tables).column("country").to_pylist())

    def now(self) -> set[str] | None:
        """What the application reads now: at the endpoint it had, or else at the one published now."""
        return self.countries() or self.reads()

    def reads(self) -> set[str] | None:
        """What `countries` returns through the endpoint the hub publishes now (None: not Ready)."""
        if not self.ready():
            return None
        try:
            self.connect()
        except AssertionError:  # no pod serves it yet
            return None
        return self.countries()


def local_config(hub_dir: Path, into: Path) -> Path:
    """The instance configuration the agent wrote for the application's module."""
    return next(p for p in (hub_dir / "run").rglob("config.yaml") if APP in str(p))


def kube_config(members: Iterable[KubeCluster], into: Path) -> Path:
    """The instance configuration in the ConfigMap the agent applied on the application's member."""
    for member in members:
        for bp in member.list(Blueprint).items:
            if bp.spec.application.name == APP:
                name = f"{object_name(bp.name, bp.spec.modules[0].name)}-config"
                config_map = member.manifests.get("v1", "ConfigMap", name, bp.metadata.namespace)
                into.write_text(config_map["data"][CONFIG_KEY])
                return into
    raise RuntimeError(f"no member runs {APP}")


def baseline(config: Callable[[Path], Path]) -> float:
    """The application's Flight module started by hand on its instance configuration, until it serves."""
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "ready.json"
        config_file = config(Path(tmp) / "module.yaml")
        start = time.monotonic()
        argv = ["module", "flight", "--config", str(config_file), "--ready-file", str(ready)]
        process = subprocess.Popen(
            [sys.executable, "-m", "m4d.cli", *argv, "--host", "127.0.0.1", "--port", "0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            took = until(lambda: ready.exists() or process.poll() is not None, "the module started by hand", start)
            served = ready.exists()
        finally:
            process.terminate()
            process.wait(10)
    if not served:
        raise RuntimeError(f"the module started by hand on {APP}'s configuration did not serve")
    return took


def tag_country(catalog: dict[str, object], tagged: bool) -> str:
    for asset in catalog["assets"]:  # type: ignore[attr-defined]
        if asset["id"] == ASSET:
            for column in asset["columns"]:
                if column["name"] == "country":
                    column["tags"] = ["PII.Identifier"] if tagged else []
    return yaml.safe_dump(catalog, sort_keys=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--policy", choices=("builtin", "fybrik"), default="builtin")
    parser.add_argument("--recheck", type=float, default=10.0, help="connectorRecheck with --policy fybrik")
    parser.add_argument("--kube", action="store_true", help="on the test environment's Kubernetes clusters")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="m4d-bench-revocation-")))
        if args.kube:
            env = stack.enter_context(servers.running())
            stack.enter_context(running_nodes(env))
            kube = stack.enter_context(kube_world(env, tmp))
            app = Application(kube.hub, kube.paths.hub, kube.reachable)
            label = "built-in, Kubernetes hub and members"
            measure(app, kube.paths.hub, args.runs, lambda into: kube_config(kube.members.values(), into), label)
            return
        settings: dict[str, object] = {}
        connector = None
        if args.policy == "fybrik":
            connector = stack.enter_context(serve(SpecServer("policymanager.spec.yaml", lambda body: (503, {}))))
            settings = {"policy": f"fybrik:{connector.url}", "connectorRecheck": args.recheck}
        paths = bring_up(tmp / "hub", rows=5_000, say=lambda stage, message: None, heartbeat=1.0, hub_settings=settings)
        stack.callback(services.stop_all, paths.hub)
        if connector is not None:  # it answers from the hub's policy directory, as the built-in engine would
            connector.handler = policy_handler(BuiltinPolicyEngine(paths.hub / "policies"))
        hub = stack.enter_context(contextlib.closing(LocalCluster(paths.hub / "hub.db")))
        app = Application(hub, paths.hub)
        m4d(paths.hub, "apply", "-f", str(paths.applications / f"{APP}.yaml"))
        until(app.ready, "the application Ready", time.monotonic())
        label = f"{settings.get('policy', 'built-in')}, connectorRecheck {settings.get('connectorRecheck', '-')}"
        measure(app, paths.hub, args.runs, lambda into: local_config(paths.hub, into), label)


def measure(app: Application, hub_dir: Path, runs: int, config: Callable[[Path], Path], label: str) -> None:
    times: dict[str, list[float]] = {"deny": [], "redact": [], "restore after deny": [], "restore after redact": []}
    baselines: list[float] = []
    deny_file = hub_dir / "policies" / "zz-bench-deny.yaml"
    catalog_file = hub_dir / "catalog" / "assets.yaml"
    catalog = yaml.safe_load(catalog_file.read_text())
    app.connect()
    plain = app.countries()
    assert plain, "the application reads nothing before any change"
    for i in range(runs + 1):  # the first run warms caches and is not counted
        run: dict[str, float] = {}
        start = time.monotonic()
        replace_file(deny_file, yaml.safe_dump(DENY))
        run["deny"] = until(app.refused, "the first refused request", start)
        start = time.monotonic()
        deny_file.unlink()
        run["restore after deny"] = until(lambda: app.reads() == plain, "reads as before", start)

        start = time.monotonic()
        replace_file(catalog_file, tag_country(catalog, tagged=True))
        run["redact"] = until(lambda: not (app.now() or plain) & plain, "the hashed column", start)
        start = time.monotonic()
        replace_file(catalog_file, tag_country(catalog, tagged=False))
        run["restore after redact"] = until(lambda: app.reads() == plain, "reads as before", start)
        baselines.append(baseline(config))
        if i > 0:
            for name, value in run.items():
                times[name].append(value)
            print(f"run {i}: " + "  ".join(f"{k} {v * 1000:6.0f} ms" for k, v in run.items()), flush=True)
    base = statistics.median(baselines[1:])
    print(f"\npolicy manager: {label}")
    print(f"medians of {runs} runs (first refused requests: {dict(app.refusals)})")
    print(f"baseline (the module started by hand until it serves): {base * 1000:.0f} ms")
    for name in ("deny", "redact"):
        median = statistics.median(times[name])
        print(f"{name:7} {median * 1000:6.0f} ms  {median / base:5.2f}x the baseline  (max {max(times[name]):.2f} s)")
    for name in ("restore after deny", "restore after redact"):
        print(f"{name}: {statistics.median(times[name]) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
