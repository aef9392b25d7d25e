"""The resource commands through click's CliRunner, on an embedded hub in a temporary directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from m4d.cli.main import cli
from m4d.errors import NotFoundError

APP = """\
apiVersion: app.m4d.dev/v1alpha1
kind: M4DApplication
metadata:
  name: notebook
  labels: {team: risk}
spec:
  appInfo: {intent: Fraud Detection, role: Security}
  data:
    - dataSetID: finance/transactions
      requirements:
        interface: {protocol: fybrik-arrow-flight, dataformat: arrow}
---
apiVersion: app.m4d.dev/v1alpha1
kind: MemberCluster
metadata: {name: eu-member}
spec: {region: eu-de, zone: eu-de-1}
"""


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(cli, ["--hub", str(tmp_path / "hub"), *args], input=input, catch_exceptions=False)

    return invoke


def test_apply_get_describe_delete(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "app.yaml").write_text(APP)
    result = run("apply", "-f", str(tmp_path / "app.yaml"))
    assert result.exit_code == 0, result.output
    assert "m4dapplication.app.m4d.dev/notebook created" in result.output
    assert "membercluster.app.m4d.dev/eu-member created" in result.output

    again = run("apply", "-f", "-", input=APP)
    assert "notebook unchanged" in again.output

    table = run("get", "m4dapplications")
    assert table.exit_code == 0
    assert "NAME" in table.output and "notebook" in table.output and "Fraud Detection" in table.output

    wide = run("get", "mc", "-o", "wide")
    assert "eu-de-1" in wide.output  # the zone column is wide-only
    assert "eu-de-1" not in run("get", "mc").output

    as_yaml = yaml.safe_load(run("get", "app", "notebook", "-o", "yaml").output)
    assert as_yaml["spec"]["data"][0]["dataSetID"] == "finance/transactions"
    as_json = json.loads(run("get", "app", "-o", "json").output)
    assert [i["metadata"]["name"] for i in as_json["items"]] == ["notebook"]
    assert "notebook" in run("get", "app", "-l", "team=risk").output
    assert "No m4dapplications found" in run("get", "app", "-l", "team=ops").output

    described = run("describe", "m4dapplication", "notebook")
    assert "Fraud Detection" in described.output and "Status:" in described.output
    cluster = run("describe", "membercluster", "eu-member")
    # An embedded hub has no Argo CD (its local sync delivers the folders); a real one shows its verdict.
    assert "Argo CD:      <none> (no Application argocd/m4d-eu-member on this hub)" in cluster.output

    deleted = run("delete", "app", "notebook")
    assert "deleted" in deleted.output
    assert run("get", "app").output.startswith("No m4dapplications")


def test_get_unknown_name_fails_with_message(run) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFoundError, match="not found"):
        run("get", "app", "missing")


def test_unknown_kind_is_a_usage_error(run) -> None:  # type: ignore[no-untyped-def]
    result = run("get", "widgets")
    assert result.exit_code == 2
    assert "unknown kind 'widgets'" in result.output


def test_crds_print_every_kind(run) -> None:  # type: ignore[no-untyped-def]
    docs = list(yaml.safe_load_all(run("crds").output))
    assert {d["spec"]["names"]["kind"] for d in docs} == {
        "M4DApplication", "M4DModule", "M4DStorageAccount", "Plotter", "Blueprint", "MemberCluster", "BlueprintReport"
    }  # fmt: skip
    assert all(d["spec"]["versions"][0]["subresources"] == {"status": {}} for d in docs)


def test_every_command_has_help(run) -> None:  # type: ignore[no-untyped-def]
    for name, command in cli.commands.items():
        result = run(name, "--help")
        assert result.exit_code == 0, name
        assert command.help, f"{name} has no help text"
