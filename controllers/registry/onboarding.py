"""Onboarding and offboarding a member cluster: the MemberCluster on the hub, its folder and Argo CD
registration in Git.

Decide first, then act: the registration is rendered (and validated) with the new set of clusters, and
the GitOps repository is reached, before anything is written, so a template that yields an unusable
cluster or a repository that cannot be written changes nothing anywhere. Onboarding the same cluster
with the same values again changes nothing (no new object version, no commit); with new values it
updates both. Offboarding removes the MemberCluster, then the member's folder (its namespace and every
Blueprint) and its Argo CD Application from Git; run again, it finishes what an interrupted run left.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from m4d.api.cluster import MemberCluster
from m4d.api.meta import is_dns_subdomain
from m4d.cluster.interface import Cluster
from m4d.errors import FieldError, InvalidError, NotFoundError
from m4d.generator.change import Change
from m4d.generator.cluster_template import ClusterTemplate, render_spec
from m4d.generator.naming import application_path, cluster_dir, namespace_path
from m4d.generator.tree import render_clusters
from m4d.gitops.settings import GitOpsSettings
from m4d.gitops.writer import GitOpsWriter, WriteResult

TEMPLATE_LABEL = "m4d.dev/cluster-template"
FIELD_MANAGER = "m4d-onboard"


@dataclass(frozen=True)
class Onboarded:
    cluster: MemberCluster
    verb: Literal["created", "updated", "unchanged"]
    write: WriteResult


@dataclass(frozen=True)
class Offboarded:
    name: str
    deleted: bool  # False: the hub had no such MemberCluster (any more); Git was still cleaned
    write: WriteResult


def registration_change(clusters: list[MemberCluster], settings: GitOpsSettings, reason: str) -> Change:
    rendered = render_clusters(clusters, settings.render_config())
    return Change(files=dict(rendered.files), origins=dict(rendered.origins), subject="clusters", reason=reason)


def removal_change(remaining: list[MemberCluster], settings: GitOpsSettings, name: str, reason: str) -> Change:
    """The registrations of the clusters that stay; the member's folder and Application gone."""
    change = registration_change(remaining, settings, reason)
    files = {**change.files, namespace_path(name): None, application_path(name): None}
    return Change(files=files, origins=change.origins, subject=change.subject, reason=reason,
                  removed_folders=(cluster_dir(name),))  # fmt: skip


def _others(hub: Cluster, name: str) -> list[MemberCluster]:
    return [c for c in hub.list(MemberCluster).items if c.name != name and c.metadata.deletion_timestamp is None]


def _reachable_writer(settings: GitOpsSettings) -> GitOpsWriter:
    """The writer, once the repository answered (a wrong URL or refused credentials fail here, early)."""
    writer = settings.open_writer()
    try:
        writer.head()
    except BaseException:
        writer.close()
        raise
    return writer


def onboard(
    hub: Cluster, settings: GitOpsSettings, name: str, template: ClusterTemplate, values: dict[str, str]
) -> Onboarded:
    if not is_dns_subdomain(name):
        rule = "must be a lowercase RFC 1123 subdomain (a-z, 0-9, '-' and '.', starting and ending alphanumeric)"
        raise InvalidError(f"cluster name {name!r}", [FieldError("NAME", rule)])
    spec = render_spec(template, values)
    wanted = MemberCluster.new(name, spec=spec)
    wanted.metadata.labels = {TEMPLATE_LABEL: template.name}
    reason = f"Cluster {name} onboarded from template {template.name} (region {spec.region})."
    change = registration_change([*_others(hub, name), wanted], settings, reason)  # raises before any write
    writer = _reachable_writer(settings)
    try:
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
        result = writer.write(change)
    finally:
        writer.close()
    return Onboarded(stored, verb, result)


def offboard(hub: Cluster, settings: GitOpsSettings, name: str) -> Offboarded:
    reason = f"Cluster {name} offboarded: its folder and Argo CD Application are removed."
    change = removal_change(_others(hub, name), settings, name, reason)
    writer = _reachable_writer(settings)
    try:
        try:
            hub.delete(MemberCluster, name)
            deleted = True
        except NotFoundError:
            deleted = False
        result = writer.write(change)
    finally:
        writer.close()
    return Offboarded(name, deleted, result)
