"""Open the hub (or a member) store a command or controller works on: embedded directory or kube context."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from m4d.cluster.interface import Cluster
from m4d.cluster.local import LocalCluster

DEFAULT_HUB_DIR = ".m4d"


@dataclass(frozen=True)
class HubLayout:
    """Where the embedded default keeps each piece inside the hub directory."""

    root: Path

    @property
    def hub_db(self) -> Path:
        return self.root / "hub.db"

    def member_db(self, cluster: str) -> Path:
        return self.root / "members" / f"{cluster}.db"

    @property
    def gitops_repo(self) -> Path:
        return self.root / "gitops.git"

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.yaml"

    @property
    def logs(self) -> Path:
        return self.root / "logs"


@dataclass(frozen=True)
class Target:
    """Which cluster a command talks to: an embedded hub directory, or a kubeconfig context."""

    hub_dir: Path = Path(DEFAULT_HUB_DIR)
    kube_context: str | None = None
    kubeconfig: str | None = None
    in_cluster: bool = False  # the hub is the cluster this process runs in (a pod's service account)

    @classmethod
    def from_env(cls, hub_dir: str | None = None, kube_context: str | None = None, in_cluster: bool = False) -> Target:
        return cls(
            hub_dir=Path(hub_dir or os.environ.get("M4D_HUB") or DEFAULT_HUB_DIR),
            kube_context=kube_context or os.environ.get("M4D_KUBE_CONTEXT") or None,
            kubeconfig=os.environ.get("KUBECONFIG") or None,
            in_cluster=in_cluster,
        )

    @property
    def layout(self) -> HubLayout:
        # Absolute: the paths travel into processes started elsewhere (modules run in their own working
        # directory) and into file:// URLs; a relative `.m4d` would be resolved a second time there.
        return HubLayout(self.hub_dir.absolute())

    def describe(self) -> str:
        if self.in_cluster:
            return "the cluster this pod runs in"
        return f"kube context {self.kube_context}" if self.kube_context else f"embedded hub {self.hub_dir}"

    @property
    def is_kubernetes(self) -> bool:
        return self.in_cluster or self.kube_context is not None

    def open_hub(self) -> Cluster:
        if self.in_cluster:
            from m4d.cluster.kube import KubeCluster  # noqa: PLC0415 - only needed for real clusters

            return KubeCluster.in_cluster(name="hub")
        if self.kube_context:
            from m4d.cluster.kube import KubeCluster  # noqa: PLC0415 - only needed for real clusters

            return KubeCluster.from_kubeconfig(context=self.kube_context, config_file=self.kubeconfig)
        return LocalCluster(self.layout.hub_db, name="hub")

    def open_member(self, cluster: str) -> Cluster:
        """A member's store in the embedded default (real members are reached through their own context)."""
        return LocalCluster(self.layout.member_db(cluster), name=cluster)
