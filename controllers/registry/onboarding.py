"""Onboarding a member cluster: the MemberCluster on the hub, its folder and Argo CD registration in Git.

Decide first, then act: the registration is rendered (and validated) with the new cluster before
anything is written, so a template that yields an unusable cluster changes nothing anywhere.
Onboarding the same cluster with the same values again changes nothing (no new object version, no
commit); with new values it updates both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from m4d.api.cluster import MemberCluster
from m4d.api.meta import is_dns_subdomain
from m4d.cluster.interface import Cluster
from m4d.errors import FieldError, InvalidError, NotFoundError
from m4d.generator.cluster_template import ClusterTemplate, render_spec
from m4d.generator.settings import GitOpsSettings
from m4d.generator.tree import render_clusters
from m4d.generator.writer import Change, WriteResult

TEMPLATE_LABEL = "m4d.dev/cluster-template"
FIELD_MANAGER = "m4d-onboard"


@dataclass(frozen=True)
class Onboarded:
    cluster: MemberCluster
    verb: Literal["created", "updated", "unchanged"]
    write: WriteResult


def registration_change(clusters: list[MemberCluster], settings: GitOpsSettings, reason: str) -> Change:
    rendered = render_clusters(clusters, settings.render_config())
    return Change(files=dict(rendered.files), origins=dict(rendered.origins), subject="clusters", reason=reason)


def onboard(
    hub: Cluster, settings: GitOpsSettings, name: str, template: ClusterTemplate, values: dict[str, str]
) -> Onboarded:
    if not is_dns_subdomain(name):
        rule = "must be a lowercase RFC 1123 subdomain (a-z, 0-9, '-' and '.', starting and ending alphanumeric)"
        raise InvalidError(f"cluster name {name!r}", [FieldError("NAME", rule)])
    spec = render_spec(template, values)
    wanted = MemberCluster.new(name, spec=spec)
    wanted.metadata.labels = {TEMPLATE_LABEL: template.name}
    others = [c for c in hub.list(MemberCluster).items if c.name != name and c.metadata.deletion_timestamp is None]
    reason = f"Cluster {name} onboarded from template {template.name} (region {spec.region})."
    change = registration_change([*others, wanted], settings, reason)  # raises before anything is written

    try:
        before: MemberCluster | None = hub.get(MemberCluster, name)
    except NotFoundError:
        before = None
    stored = hub.apply(wanted, field_manager=FIELD_MANAGER)
    if before is None:
        verb: Literal["created", "updated", "unchanged"] = "created"
    elif stored.metadata.resource_version == before.metadata.resource_version:
        verb = "unchanged"
    else:
        verb = "updated"
    writer = settings.open_writer()
    try:
        result = writer.write(change)
    finally:
        writer.close()
    return Onboarded(stored, verb, result)
