"""A small world for governance tests: modules, member clusters, storage accounts, applications, and a
way to run one scenario through the real connectors and the planner.

The catalog and policies are the samples (samples/catalog, samples/policies) unless a scenario brings
its own; modules are defined here (module descriptors belong to the modules' own package).
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from m4d.api import M4DApplication, M4DModule, M4DStorageAccount, MemberCluster
from m4d.api.application import (
    AppInfo,
    CopyOptions,
    DataContext,
    DataRequirements,
    M4DApplicationSpec,
    WorkloadSelector,
)
from m4d.api.cluster import MemberClusterSpec, MemberClusterStatus
from m4d.api.common import Connection, Interface
from m4d.api.meta import Condition
from m4d.api.module import M4DModuleSpec, ModuleCapability, ModuleDeployment, ModuleInOut, SupportedAction
from m4d.api.storage import M4DStorageAccountSpec
from m4d.connectors.catalog import Catalog, FileCatalog, FybrikCatalog
from m4d.connectors.http import RetryPolicy
from m4d.connectors.policy import BuiltinPolicyEngine, FybrikPolicyManager, PolicyManager
from m4d.controllers.application.candidates import describe_action
from m4d.controllers.application.gather import evaluate
from m4d.controllers.application.planner import Plan
from m4d.taxonomy import default_taxonomy

ROOT = Path(__file__).resolve().parents[3]
SAMPLE_CATALOG = ROOT / "samples" / "catalog"
SAMPLE_POLICIES = ROOT / "samples" / "policies"
FLIGHT = Interface(protocol="fybrik-arrow-flight", dataformat="arrow")
ALL_ACTIONS = ("RedactColumn", "RemoveColumn", "HashColumn", "FilterRows")
FAST_RETRY = RetryPolicy(attempts=2, backoff=0.01)


def iface(text: str) -> Interface:
    protocol, _, fmt = text.partition("/")
    return Interface(protocol=protocol, dataformat=fmt or None)


def module(name: str, *caps: ModuleCapability) -> M4DModule:
    deployment = ModuleDeployment(command=["python", "-m", f"m4d.modules.{name}", "--config", "{config}"])
    return M4DModule.new(name, "m4d-system", spec=M4DModuleSpec(capabilities=list(caps), deployment=deployment))


def cap(
    kind: str,
    ios: Sequence[tuple[str | None, str | None]],
    actions: Sequence[str] = ALL_ACTIONS,
    api: Interface | None = None,
) -> ModuleCapability:
    return ModuleCapability.model_validate(
        {
            "capability": kind,
            "supportedInterfaces": [
                ModuleInOut(source=iface(s) if s else None, sink=iface(k) if k else None) for s, k in ios
            ],
            "actions": [SupportedAction(name=a) for a in actions],
            "api": api,
        }
    )


READABLE = ("file/parquet", "file/csv", "s3/parquet", "s3/csv")
MODULES: dict[str, M4DModule] = {
    "arrow-flight": module(
        "arrow-flight",
        cap("read", [(s, None) for s in READABLE], api=FLIGHT),
        cap("write", [(None, "file/parquet"), (None, "s3/parquet")], api=FLIGHT),
    ),
    "basic-read": module("basic-read", cap("read", [(s, None) for s in READABLE], ["RedactColumn"], api=FLIGHT)),
    "implicit-copy": module(
        "implicit-copy",
        cap("copy", [(s, k) for s in (*READABLE, "postgres") for k in ("file/parquet", "s3/parquet")]),
    ),
    "bad-module": module("bad-module", cap("read", [("file/parquet", None)], ["Mask"], api=FLIGHT)),
}


def cluster(name: str, region: str, offline: bool = False) -> MemberCluster:
    obj = MemberCluster.new(name, spec=MemberClusterSpec(region=region))
    if offline:
        obj.status = MemberClusterStatus(conditions=[Condition(type="Ready", status="False", reason="Offline")])
    return obj


CLUSTERS = {"eu-de-1": "eu-de", "eu-fr-1": "eu-fr", "us-east-1": "us-east"}


def storage(name: str, geography: str, kind: str, **props: object) -> M4DStorageAccount:
    spec = M4DStorageAccountSpec(
        geography=geography,
        connection=Connection(kind=kind, properties=dict(props)),
        format="parquet",
        credential_ref=f"secret/data/m4d/storage/{name}",
    )
    return M4DStorageAccount.new(name, "m4d-system", spec=spec)


STORAGE = {
    "eu-de-store": storage("eu-de-store", "eu-de", "s3", endpoint="http://s3.eu-de", bucket="copies", objectKey="m4d"),
    "eu-fr-store": storage("eu-fr-store", "eu-fr", "file", path="/var/m4d/copies"),
    "us-store": storage("us-store", "us-east", "s3", endpoint="http://s3.us-east", bucket="copies", objectKey="m4d"),
}


def application(
    assets: Sequence[str],
    intent: str,
    role: str | None = None,
    geography: str | None = None,
    cluster_name: str | None = None,
    flow: str = "read",
    interface: Interface = FLIGHT,
    copy_required: bool = False,
    name: str = "app",
) -> M4DApplication:
    copy = CopyOptions(required=True) if copy_required else None
    data = [
        DataContext.model_validate(
            {"dataSetID": a, "flow": flow, "requirements": DataRequirements(interface=interface, copy_=copy)}
        )
        for a in assets
    ]
    info = AppInfo(intent=intent, role=role, processing_geography=geography)
    spec = M4DApplicationSpec(app_info=info, data=data, selector=WorkloadSelector(cluster_name=cluster_name))
    app = M4DApplication.new(name, "default", spec=spec)
    app.metadata.uid, app.metadata.generation = "uid-1", 1
    return app


def closed_port() -> int:
    """A loopback port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Expect:
    outcome: str
    reason: str
    steps: tuple[str, ...] = ()
    says: tuple[str, ...] = ()  # substrings of the condition message


@dataclass(frozen=True)
class Scenario:
    name: str
    expect: dict[str, Expect]
    intent: str = "Fraud Detection"
    role: str | None = None
    geography: str | None = None
    cluster_name: str | None = None
    flow: str = "read"
    interface: str = "fybrik-arrow-flight/arrow"
    copy_required: bool = False
    modules: tuple[str, ...] = ("arrow-flight", "implicit-copy")
    clusters: tuple[str, ...] = tuple(CLUSTERS)
    offline: tuple[str, ...] = ()
    storage: tuple[str, ...] = tuple(STORAGE)
    catalog: str | None = None  # YAML of a catalog of its own, or "down"
    policies: str | None = None  # YAML of policies of their own, or "down"
    explains: tuple[str, ...] = ()  # substrings of some consideration, rendered by `consideration_text`
    temporary: bool = False

    def __str__(self) -> str:
        return self.name

    def app(self) -> M4DApplication:
        return application(
            tuple(self.expect),
            self.intent,
            self.role,
            self.geography,
            self.cluster_name,
            self.flow,
            iface(self.interface),
            self.copy_required,
        )

    def world(
        self, shuffle: random.Random | None = None
    ) -> tuple[list[M4DModule], list[MemberCluster], list[M4DStorageAccount]]:
        modules = [MODULES[m] for m in self.modules]
        clusters = [cluster(c, CLUSTERS[c], c in self.offline) for c in self.clusters]
        accounts = [STORAGE[s] for s in self.storage]
        if shuffle is not None:
            for items in (modules, clusters, accounts):
                shuffle.shuffle(items)
        return modules, clusters, accounts


@contextmanager
def connectors(
    scenario: Scenario, tmp: Path, policy: PolicyManager | None = None
) -> Iterator[tuple[Catalog, PolicyManager]]:
    if scenario.catalog == "down":
        catalog: Catalog = FybrikCatalog(f"http://127.0.0.1:{closed_port()}", retry=FAST_RETRY, timeout=1.0)
    elif scenario.catalog is not None:
        (tmp / "catalog").mkdir()
        (tmp / "catalog" / "assets.yaml").write_text(scenario.catalog)
        catalog = FileCatalog(tmp / "catalog")
    else:
        catalog = FileCatalog(SAMPLE_CATALOG)
    if policy is None:
        if scenario.policies == "down":
            policy = FybrikPolicyManager(f"http://127.0.0.1:{closed_port()}", retry=FAST_RETRY, timeout=1.0)
        elif scenario.policies is not None:
            (tmp / "policies").mkdir()
            (tmp / "policies" / "policies.yaml").write_text(scenario.policies)
            policy = BuiltinPolicyEngine(tmp / "policies")
        else:
            policy = BuiltinPolicyEngine(SAMPLE_POLICIES)
    try:
        yield catalog, policy
    finally:
        catalog.close()
        policy.close()


def run(scenario: Scenario, catalog: Catalog, policy: PolicyManager, shuffle: random.Random | None = None) -> Plan:
    modules, clusters, accounts = scenario.world(shuffle)
    return evaluate(scenario.app(), catalog, policy, modules, clusters, accounts, default_taxonomy())


def steps_of(plan: Plan, key: str) -> tuple[str, ...]:
    """`capability module@cluster [via storage]: actions` for each step of the asset's flow."""
    record = next(r for r in plan.records if r.key == key)
    if record.flow is None:
        return ()
    out = []
    for choice, step in zip(record.state().modules, record.flow.steps, strict=True):
        via = f" via {choice.storage}" if choice.storage else ""
        actions = ", ".join(describe_action(a) for a in step.actions) or "-"
        out.append(f"{step.capability} {step.module}@{step.cluster}{via}: {actions}")
    return tuple(out)


def consideration_text(plan: Plan, key: str) -> str:
    record = next(r for r in plan.records if r.key == key)
    return "\n".join(
        f"{c.step} {c.module or '-'}@{c.cluster or '-'} {c.storage or '-'} {c.verdict}: {c.reason}"
        for c in record.considerations
    )


def check(scenario: Scenario, plan: Plan) -> None:
    for key, expect in scenario.expect.items():
        record = next(r for r in plan.records if r.key == key)
        got = (record.outcome, record.reason)
        assert got == (expect.outcome, expect.reason), f"{key}: {got} ({record.message})"
        assert steps_of(plan, key) == expect.steps, f"{key}: {record.message}"
        for text in expect.says:
            assert text in record.message, f"{key}: {text!r} not in {record.message!r}"
    explained = "\n".join(consideration_text(plan, k) for k in scenario.expect)
    for text in scenario.explains:
        assert text in explained, f"{text!r} not in\n{explained}"
    assert plan.temporary is scenario.temporary
    assert plan.keep_plotter is scenario.temporary
    ready = [k for k, e in scenario.expect.items() if e.outcome == "Ready"]
    if scenario.temporary or not ready:
        assert plan.plotter is None
    else:
        assert plan.plotter is not None
        assert [f.asset_id for f in plan.plotter.flows] == ready
