"""The member install bundle: values for the m4d-agent chart, with the agent's hub connection."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from m4d import __version__
from m4d.generator.bundle import agent_kubeconfig, agent_values, hub_kubeconfig, token_connection


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


def test_the_bundle_is_the_agent_charts_values(tmp_path: Path) -> None:
    hub = token_connection(hub_kubeconfig(_kubeconfig(tmp_path)), "sa-token-9", server="https://hub.example:6443")
    text = agent_values("eu1", hub, image="registry.example:5000/m4d:1.2")
    assert text.startswith(b"# m4d-agent values for member cluster eu1")
    values = yaml.safe_load(text)
    assert values["cluster"] == "eu1"
    assert values["image"] == {"repository": "registry.example:5000/m4d", "tag": "1.2"}
    config = yaml.safe_load(values["hub"]["kubeconfig"])
    assert config["current-context"] == values["hub"]["context"] == "hub"
    assert config["users"] == [{"name": "hub", "user": {"token": "sa-token-9"}}]  # not the admin's token
    assert config["clusters"][0]["cluster"]["server"] == "https://hub.example:6443"
    assert config["clusters"][0]["cluster"]["certificate-authority-data"]
    default = yaml.safe_load(agent_values("eu1", hub))
    assert default["image"] == {"repository": "ghcr.io/m4d/m4d", "tag": __version__}


def test_agent_kubeconfig_has_only_the_hub() -> None:
    config = agent_kubeconfig({"cluster": {"server": "https://hub"}, "user": {"token": "t"}})
    assert [c["name"] for c in config["contexts"]] == ["hub"]
