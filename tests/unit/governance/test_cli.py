"""`m4d hub run --until-idle` and `m4d explain` on an embedded hub, with the samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from m4d.api import M4DApplication, Plotter
from m4d.cli.main import cli
from m4d.cluster.local import LocalCluster
from tests.unit.governance.world import ROOT, SAMPLE_CATALOG, SAMPLE_POLICIES

INFRA = """
apiVersion: app.m4d.dev/v1alpha1
kind: MemberCluster
metadata: {name: eu-de-1}
spec: {region: eu-de}
---
apiVersion: app.m4d.dev/v1alpha1
kind: MemberCluster
metadata: {name: eu-fr-1}
spec: {region: eu-fr}
---
apiVersion: app.m4d.dev/v1alpha1
kind: M4DStorageAccount
metadata: {name: eu-fr-store, namespace: m4d-system}
spec:
  geography: eu-fr
  connection: {kind: file, properties: {path: /var/m4d/copies}}
"""


def m4d(hub: Path, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["--hub", str(hub), *args], catch_exceptions=False, env={"COLUMNS": "200"})
    return result


@pytest.fixture
def hub(tmp_path: Path) -> Path:
    (tmp_path / "infra.yaml").write_text(INFRA)
    hub = tmp_path / ".m4d"
    files = [tmp_path / "infra.yaml", ROOT / "modules" / "descriptors", ROOT / "samples" / "applications"]
    result = m4d(hub, "apply", *(arg for f in files for arg in ("-f", str(f))))
    assert result.exit_code == 0, result.output
    return hub


def run_hub(hub: Path) -> Result:
    return m4d(
        hub,
        "hub",
        "run",
        "--until-idle",
        "--timeout",
        "30",
        "--catalog",
        f"file:{SAMPLE_CATALOG}",
        "--policy",
        f"builtin:{SAMPLE_POLICIES}",
    )


def test_hub_run_until_idle_plans_every_sample(hub: Path) -> None:
    result = run_hub(hub)
    assert result.exit_code == 0, result.output
    store = LocalCluster(hub / "hub.db")
    try:
        assert sorted(p.name for p in store.list(Plotter, "default").items) == [
            "customer-analytics",
            "fraud-detection",
            "marketing-eu-fr",
        ]
        denied = store.get(M4DApplication, "intern-hr", "default")
        assert denied.status is not None and not denied.status.ready
    finally:
        store.close()


def test_explain_prints_the_reasoning(hub: Path) -> None:
    assert run_hub(hub).exit_code == 0
    result = m4d(hub, "explain", "m4dapplication", "marketing-eu-fr")
    assert result.exit_code == 0, result.output
    text = result.output
    assert "Asset finance/transactions (read as fybrik-arrow-flight/arrow): Ready (Planned)" in text
    assert "policy eu-data-is-processed-in-its-geography denies read of finance/transactions" in text
    assert (
        "copy: module implicit-copy on cluster eu-de-1 via storage eu-fr-store, enforcing FilterRows, RemoveColumn"
        in text
    )
    denied = m4d(hub, "explain", "app", "intern-hr").output
    assert "Asset hr/employees (read as fybrik-arrow-flight/arrow): Deny (Denied)" in denied
    assert "policy no-confidential-data-for-interns denies read of hr/employees" in denied


def test_explain_live_and_json(hub: Path) -> None:
    result = m4d(
        hub,
        "explain",
        "m4dapplication",
        "fraud-detection",
        "--live",
        "-o",
        "json",
        "--catalog",
        f"file:{SAMPLE_CATALOG}",
        "--policy",
        f"builtin:{SAMPLE_POLICIES}",
    )
    assert result.exit_code == 0, result.output
    states = json.loads(result.output)
    fin = states["finance/transactions"]
    assert [c["type"] for c in fin["conditions"] if c["status"] == "True"] == ["Ready"]
    assert fin["modules"] == [
        {"module": "arrow-flight", "capability": "read", "cluster": "eu-de-1", "actions": ["HashColumn"]}
    ]
    # --live does not act: no Plotter was written.
    store = LocalCluster(hub / "hub.db")
    try:
        assert store.list(Plotter).items == []
    finally:
        store.close()


def test_explain_rejects_other_kinds(hub: Path) -> None:
    result = CliRunner().invoke(cli, ["--hub", str(hub), "explain", "plotter", "x"])
    assert result.exit_code == 2
    assert "only m4dapplication can be explained" in result.output


def test_hub_yaml_configures_connectors(hub: Path) -> None:
    (hub / "hub.yaml").write_text(f"catalog: file:{SAMPLE_CATALOG}\npolicy: builtin:{SAMPLE_POLICIES}\n")
    result = m4d(hub, "hub", "run", "--until-idle", "--timeout", "30")
    assert result.exit_code == 0, result.output
    (hub / "hub.yaml").write_text("policy: ldap:somewhere\n")
    bad = CliRunner().invoke(cli, ["--hub", str(hub), "hub", "run", "--until-idle"])
    assert bad.exit_code != 0
    assert "policy: must be one of builtin:..., opa:..., fybrik:..." in str(bad.exception) + bad.output
