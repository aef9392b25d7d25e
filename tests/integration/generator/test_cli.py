"""`m4d cluster` and `m4d gitops` on an embedded hub with its default bare repository."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from m4d.api.cluster import MemberCluster
from m4d.cli.main import cli
from m4d.cluster.local import LocalCluster
from tests.integration.generator.gitservers import git
from tests.unit.generator.plans import plotter

pytestmark = pytest.mark.integration


def m4d(hub: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--hub", str(hub), *args], catch_exceptions=False)
    return result.exit_code, result.output


def commits(hub: Path) -> list[str]:
    return git("--git-dir", str(hub / "gitops.git"), "log", "--format=%s", "main").splitlines()


def test_onboard_creates_the_cluster_and_registers_it_once(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    code, out = m4d(hub, "cluster", "onboard", "eu1", "--template", "plain", "--region", "eu-de")
    assert code == 0, out
    assert "membercluster/eu1 created from template plain (region eu-de)" in out
    code, out = m4d(hub, "cluster", "onboard", "us1", "-t", "zoned", "--region", "us-east", "--set", "zone=us-east-1a")
    assert code == 0, out
    assert commits(hub) == ["Register cluster us1", "Register cluster eu1"]
    files = git("--git-dir", str(hub / "gitops.git"), "ls-tree", "-r", "--name-only", "main").split()
    assert {"argocd/clusters/eu1.yaml", "clusters/us1/namespace.yaml", "argocd/project.yaml"} <= set(files)

    code, out = m4d(hub, "cluster", "onboard", "us1", "-t", "zoned", "--region", "us-east", "--set", "zone=us-east-1a")
    assert code == 0 and "unchanged" in out and "already registered" in out
    assert len(commits(hub)) == 2

    code, out = m4d(hub, "cluster", "list")
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["us1"][1:3] == ["us-east", "us-east-1a"] and "m4d.dev/tier=standard" in out
    assert rows["eu1"][-2:] == ["<never>", "<none>"]


def test_wrong_template_values_change_nothing(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    result = CliRunner().invoke(cli, ["--hub", str(hub), "cluster", "onboard", "x", "-t", "zoned", "--region", "US"])
    assert result.exit_code != 0
    assert "zone: required" in str(result.exception) and "region: must match" in str(result.exception)
    store = LocalCluster(hub / "hub.db")
    assert store.list(MemberCluster).items == []
    store.close()
    assert not (hub / "gitops.git" / "refs" / "heads" / "main").exists()


def test_render_writes_exactly_what_sync_commits(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    m4d(hub, "cluster", "onboard", "member1", "-t", "plain", "--region", "eu-de")
    store = LocalCluster(hub / "hub.db")
    p = plotter("app")
    store.create(p.model_copy(update={"metadata": p.metadata.model_copy(update={"uid": None, "generation": None})}))
    store.close()
    out = tmp_path / "rendered"
    (out / "clusters" / "stale").mkdir(parents=True)
    (out / "clusters" / "stale" / "old.yaml").write_text("x: 1\n")
    (out / "README.md").write_text("kept\n")
    code, text = m4d(hub, "gitops", "render", "--out", str(out))
    assert code == 0, text
    assert "1 Blueprints for 1 Plotters on 1 clusters" in text
    code, text = m4d(hub, "gitops", "sync")
    assert code == 0 and "committed" in text, text
    clone = tmp_path / "clone"
    git("clone", "-q", str(hub / "gitops.git"), str(clone))
    rendered = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    committed = {
        p.relative_to(clone).as_posix(): p.read_bytes()
        for p in clone.rglob("*")
        if p.is_file() and ".git" not in p.parts
    }
    assert rendered.pop("README.md") == b"kept\n"
    assert rendered == committed
    code, text = m4d(hub, "gitops", "sync")
    assert code == 0 and "already holds the tree" in text


def test_the_bundle_is_written_privately_and_never_committed(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    kubeconfig = tmp_path / "agent.kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "current-context": "agent",
                "clusters": [{"name": "hub", "cluster": {"server": "https://10.0.0.1:6443"}}],
                "users": [{"name": "agent", "user": {"token": "agent-secret-token-77"}}],
                "contexts": [{"name": "agent", "context": {"cluster": "hub", "user": "agent"}}],
            }
        )
    )
    bundle = tmp_path / "eu1-values.yaml"
    code, out = m4d(
        hub, "cluster", "onboard", "eu1", "-t", "plain", "--region", "eu-de",
        "--bundle", str(bundle), "--hub-kubeconfig", str(kubeconfig),
    )  # fmt: skip
    assert code == 0, out
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o600
    values = yaml.safe_load(bundle.read_text())
    assert values["cluster"] == "eu1" and "agent-secret-token-77" in values["hub"]["kubeconfig"]
    history = git("--git-dir", str(hub / "gitops.git"), "log", "-p", "--all")
    assert "agent-secret-token-77" not in history and "kind: Secret" not in history
    code, out = m4d(hub, "cluster", "onboard", "eu2", "-t", "plain", "--region", "eu-de", "--bundle", "-")
    assert code != 0 and "--hub-kubeconfig" in out
