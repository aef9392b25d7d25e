from __future__ import annotations

import base64
from pathlib import Path

import yaml

from m4d.generator.bundle import CONNECTION_SECRET, agent_kubeconfig, hub_kubeconfig, member_bundle
from m4d.generator.yamlfmt import load


def _kubeconfig(tmp_path: Path) -> Path:
    (tmp_path / "ca.crt").write_bytes(b"CA-PEM")
    path = tmp_path / "config"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "admin",
                "clusters": [
                    {"name": "hub", "cluster": {"server": "https://10.0.0.1:6443", "certificate-authority": "ca.crt"}}
                ],
                "users": [
                    {"name": "agent", "user": {"token": "agent-token-123"}},
                    {"name": "root", "user": {"token": "x"}},
                ],
                "contexts": [
                    {"name": "admin", "context": {"cluster": "hub", "user": "root"}},
                    {"name": "agent", "context": {"cluster": "hub", "user": "agent"}},
                ],
            }
        )
    )
    return path


def test_hub_kubeconfig_takes_one_context_and_inlines_files(tmp_path: Path) -> None:
    hub = hub_kubeconfig(_kubeconfig(tmp_path), "agent")
    assert hub["user"] == {"token": "agent-token-123"}
    assert hub["cluster"]["certificate-authority-data"] == base64.b64encode(b"CA-PEM").decode()
    assert "certificate-authority" not in hub["cluster"]
    assert hub_kubeconfig(_kubeconfig(tmp_path))["user"] == {"token": "x"}  # the current context


def test_the_bundle_runs_the_agent_with_both_contexts(tmp_path: Path) -> None:
    files = member_bundle("eu1", hub_kubeconfig(_kubeconfig(tmp_path), "agent"), image="registry.example/m4d:1")
    assert list(files) == [
        "00-crds.yaml",
        "10-namespace.yaml",
        "20-rbac.yaml",
        "30-hub-connection.yaml",
        "40-agent.yaml",
    ]
    crds = [d for d in yaml.safe_load_all(files["00-crds.yaml"]) if d]
    assert {c["spec"]["names"]["kind"] for c in crds} >= {"Blueprint", "MemberCluster", "BlueprintReport"}
    deployment = load(files["40-agent.yaml"])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/m4d:1"
    assert container["args"] == [
        "--kube-context",
        "hub",
        "agent",
        "--cluster",
        "eu1",
        "--member-kube-context",
        "member",
    ]
    secret = load(files["30-hub-connection.yaml"])
    assert secret["metadata"]["name"] == CONNECTION_SECRET
    config = yaml.safe_load(secret["stringData"]["kubeconfig"])
    assert {c["name"] for c in config["contexts"]} == {"hub", "member"}
    assert "agent-token-123" in secret["stringData"]["kubeconfig"]
    assert b"agent-token-123" not in b"".join(v for k, v in files.items() if k != "30-hub-connection.yaml")


def test_agent_kubeconfig_member_side_is_the_service_account() -> None:
    config = agent_kubeconfig({"cluster": {"server": "https://hub"}, "user": {"token": "t"}})
    member = next(u for u in config["users"] if u["name"] == "member")
    assert member["user"] == {"tokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"}
