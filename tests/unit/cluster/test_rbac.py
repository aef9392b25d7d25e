"""The member agent's hub RBAC: the committed template is current, and names are checked."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from m4d.cluster.rbac import agent_user, member_agent_manifests, template_yaml
from m4d.errors import InvalidError

TEMPLATE = Path(__file__).parents[3] / "deploy" / "rbac" / "member-agent.yaml"


def test_committed_template_is_current() -> None:
    assert TEMPLATE.read_text() == template_yaml(), "deploy/rbac/member-agent.yaml is stale; regenerate it"


def test_template_with_a_name_is_the_manifests() -> None:
    rendered = TEMPLATE.read_text().replace("${MEMBER}", "eu-member")
    assert list(yaml.safe_load_all(rendered)) == member_agent_manifests("eu-member")


def test_grants_only_reports_and_the_own_heartbeat() -> None:
    docs = {d["kind"]: d for d in member_agent_manifests("eu")}
    assert docs["Role"]["metadata"]["namespace"] == "m4d-member-eu"
    assert docs["Role"]["rules"][0]["resources"] == ["blueprintreports", "blueprintreports/status"]
    cluster_rules = docs["ClusterRole"]["rules"]
    assert all(rule["resourceNames"] == ["eu"] for rule in cluster_rules)
    assert cluster_rules[0] == {
        "apiGroups": ["app.m4d.dev"],
        "resources": ["memberclusters"],
        "resourceNames": ["eu"],
        "verbs": ["get"],
    }
    assert agent_user("eu") == "system:serviceaccount:m4d-member-eu:m4d-agent"


@pytest.mark.parametrize("name", ["EU", "eu_member", "", "a" * 53, "eu.member"])
def test_member_names_must_fit_a_namespace(name: str) -> None:
    with pytest.raises(InvalidError):
        member_agent_manifests(name)
