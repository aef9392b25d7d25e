"""The Helm charts, checked by the real `helm` (lint, template): least privilege, what the image and the
onboarding bundle expect of them. Installing, upgrading and uninstalling them on the test clusters is
tests/e2e/test_helm_install.py."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from m4d import __version__
from m4d.generator.bundle import agent_values
from tests.testenv.locate import locate
from tests.testenv.versions import HELM
from tests.testenv.workloads import IMAGE_USER

pytestmark = pytest.mark.integration

CHARTS = Path(__file__).resolve().parents[3] / "deploy" / "charts"
HUB = ("--set", "gitops.repo=https://git.example/org/gitops.git", "--set", "vault.address=https://vault:8200")


def helm(*args: str, check: bool = True, home: Path) -> subprocess.CompletedProcess[str]:
    binary = locate(HELM)
    if binary.path is None:
        pytest.fail(binary.missing_message(), pytrace=False)
    env = {"HELM_CACHE_HOME": str(home / "c"), "HELM_CONFIG_HOME": str(home / "f"), "HELM_DATA_HOME": str(home / "d"),
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    done = subprocess.run([str(binary.path), *args], capture_output=True, text=True, env=env, check=False)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def render(chart: str, *args: str, home: Path) -> list[dict[str, Any]]:
    out = helm("template", "rel", str(CHARTS / chart), "-n", "m4d-system", *args, home=home).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def test_both_charts_lint_clean(tmp_path: Path) -> None:
    helm("lint", "--strict", str(CHARTS / "m4d-hub"), *HUB, home=tmp_path)
    helm("lint", "--strict", str(CHARTS / "m4d-agent"), "--set", "cluster=eu1", "--set", "hub.kubeconfig=x",
         home=tmp_path)  # fmt: skip
    for chart in ("m4d-hub", "m4d-agent"):
        meta = yaml.safe_load((CHARTS / chart / "Chart.yaml").read_text())
        assert meta["appVersion"] == __version__  # the image tag the chart runs by default


def test_the_hub_chart_grants_the_hub_only_what_it_uses(tmp_path: Path) -> None:
    docs = render("m4d-hub", *HUB, home=tmp_path)
    (role,) = of_kind(docs, "ClusterRole")
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"], rule
    secrets = next(r for r in role["rules"] if "secrets" in r["resources"])
    assert not {"list", "watch"} & set(secrets["verbs"])  # token Secrets by name only
    assert not any("pods" in r["resources"] or "deployments" in r["resources"] for r in role["rules"])
    (leases,) = of_kind(docs, "Role")
    assert leases["metadata"]["namespace"] == "m4d-system" and leases["rules"][0]["resources"] == ["leases"]
    (deployment,) = of_kind(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == f"ghcr.io/m4d/m4d:{__version__}"
    assert "--leader-elect" in container["command"] and "--in-cluster" in container["command"]
    assert deployment["spec"]["replicas"] == 2
    assert pod["securityContext"]["runAsNonRoot"] is True and str(pod["securityContext"]["runAsUser"]) == IMAGE_USER
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    config = yaml.safe_load(of_kind(docs, "ConfigMap")[0]["data"]["hub.yaml"])
    assert config["tokens"]["kubernetesSecrets"] is True
    assert config["tokens"]["vault"]["auth"] == "kubernetes" and config["tokens"]["vault"]["role"] == "m4d-hub"
    crds = of_kind(docs, "CustomResourceDefinition")
    assert len(crds) == 7 and all(c["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep" for c in crds)
    assert not of_kind(
        render("m4d-hub", *HUB, "--set", "crds.install=false", home=tmp_path), "CustomResourceDefinition"
    )
    removable = render("m4d-hub", *HUB, "--set", "crds.keep=false", home=tmp_path)
    assert all("annotations" not in c["metadata"] for c in of_kind(removable, "CustomResourceDefinition"))
    assert of_kind(docs, "Lease")[0]["metadata"]["name"] == "m4d-hub"


def test_the_hub_chart_needs_a_gitops_repository(tmp_path: Path) -> None:
    done = helm("template", "rel", str(CHARTS / "m4d-hub"), check=False, home=tmp_path)
    assert done.returncode != 0 and "gitops.repo" in done.stderr


def test_the_agent_chart_takes_the_onboarding_bundle_and_stays_in_its_namespace(tmp_path: Path) -> None:
    hub = {"cluster": {"server": "https://hub.example:6443"}, "user": {"token": "agent-token-5"}}
    bundle = tmp_path / "values.yaml"
    bundle.write_bytes(agent_values("eu1", hub))
    docs = render("m4d-agent", "-f", str(bundle), "--set", "vault.address=https://vault:8200", home=tmp_path)
    assert not of_kind(docs, "ClusterRole") and not of_kind(docs, "ClusterRoleBinding")
    (role,) = of_kind(docs, "Role")
    assert role["metadata"]["namespace"] == "m4d-blueprints"
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "secrets" not in rule["resources"], rule
    pods = next(r for r in role["rules"] if r["resources"] == ["pods"])
    assert pods["verbs"] == ["get", "list", "watch"]  # the agent reads pods, the cluster runs them
    (secret,) = of_kind(docs, "Secret")
    assert "agent-token-5" in secret["stringData"]["kubeconfig"]
    (deployment,) = of_kind(docs, "Deployment")
    command = deployment["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[command.index("--cluster") + 1] == "eu1" and "--member-in-cluster" in command
    accounts = {a["metadata"]["name"]: a for a in of_kind(docs, "ServiceAccount")}
    assert accounts["m4d-module"]["automountServiceAccountToken"] is False
    agent_yaml = yaml.safe_load(of_kind(docs, "ConfigMap")[0]["data"]["agent.yaml"])
    assert agent_yaml["moduleVault"]["serviceAccount"] == "m4d-module"
    assert agent_yaml["credentials"]["role"] == "m4d-agent"
    assert not of_kind(docs, "Namespace")  # the Blueprints' namespace comes with the cluster's GitOps folder
    done = helm("template", "rel", str(CHARTS / "m4d-agent"), "--set", "hub.kubeconfig=x", check=False, home=tmp_path)
    assert done.returncode != 0 and "cluster" in done.stderr
