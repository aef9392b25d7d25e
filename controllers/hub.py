"""The hub's controllers, built from the hub's configuration.

Configuration comes from `<hub dir>/hub.yaml` (all keys optional), overridden by `m4d hub run` options:

    catalog: file:samples/catalog          # or fybrik:URL
    policy: builtin:samples/policies       # or opa:URL, fybrik:URL
    policyDefault: allow                   # built-in engine only: allow | deny what no rule decides
    taxonomy: [site-taxonomy/]             # operator taxonomy layers (files or directories of *.json)
    connectorTimeout: 5                    # seconds per catalog / policy manager request
    resyncAfter: 300                       # re-evaluate settled applications periodically
    connectorRecheck: 30                   # seconds between re-asks of connectors that cannot say when
                                           # their content changed (Fybrik connectors, OPA's data)
    heartbeatTimeout: 15                   # seconds without an agent heartbeat before a member is Offline
    offlineGrace: 60                       # seconds a member may stay Offline before its placements move
    workers: 4                             # objects each controller reconciles at once
    reviewPoll: 30                         # review mode: seconds between looks at an open pull request
    gitopsWatch: 2                         # seconds between looks at the GitOps branch head (changes made
                                           # outside m4d are undone at once; 0: noticed at writes only)
    gitopsResync: 600                      # seconds between full syncs of the generated folders
    gitHosts: [...]                        # review mode: the Git host of each GitOps repository
                                           # (m4d/git/host/config.py; docs/gitops.md)
    tokens:                                # applications' access tokens on a Kubernetes hub:
      kubernetesSecrets: true              #   a Secret m4d-token-<app> in the application's namespace
      vault: {kind: vault, address: ...}   #   and in Vault for the member agents (a credential source)

Without a setting, the embedded default looks in the hub directory: `file:<hub>/catalog` and
`builtin:<hub>/policies`. Relative paths in hub.yaml are relative to the directory `m4d` runs in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from m4d.api.meta import Model
from m4d.api.strict import load_yaml_file
from m4d.cluster.connect import HubLayout
from m4d.cluster.interface import Cluster
from m4d.connectors.catalog.model import pydantic_errors
from m4d.connectors.select import open_catalog, open_policy_manager, spec_errors
from m4d.controllers.aggregator.controller import AggregatorController
from m4d.controllers.aggregator.status import HEARTBEAT_TIMEOUT, OFFLINE_GRACE
from m4d.controllers.application.controller import ApplicationController
from m4d.controllers.application.revisions import RECHECK
from m4d.controllers.application.token_secrets import SecretTokenController, SecretTokens
from m4d.controllers.application.tokens import TokenController
from m4d.controllers.plotter.controller import PlotterController
from m4d.controllers.registry.liveness import ClusterRegistry
from m4d.credentials.interface import CredentialStore
from m4d.credentials.local import SecretsFile
from m4d.credentials.signing import FileKeys, VaultKeys
from m4d.credentials.source import CredentialSource, open_store
from m4d.errors import InvalidError, PermanentError
from m4d.git.host import HostSettings
from m4d.gitops.settings import GitOpsSettings
from m4d.runtime.controller import Controller
from m4d.taxonomy import Taxonomy


class TokenSettings(Model):
    """Where a Kubernetes hub keeps applications' access tokens (the embedded default: the secrets file)."""

    kubernetes_secrets: bool = Field(default=True, description="A Secret per application, in its namespace")
    vault: CredentialSource | None = Field(default=None, description="Also in Vault, for the member agents")


class HubFile(Model):
    catalog: str | None = None
    policy: str | None = None
    policy_default: Literal["allow", "deny"] | None = None
    taxonomy: list[str] = Field(default_factory=list)
    connector_timeout: float | None = Field(default=None, gt=0)
    resync_after: float | None = Field(default=None, gt=0)
    connector_recheck: float | None = Field(default=None, gt=0, le=86_400)
    heartbeat_timeout: float | None = Field(default=None, gt=0)
    offline_grace: float | None = Field(default=None, ge=0)
    workers: int | None = Field(default=None, ge=1, le=256)
    review_poll: float | None = Field(default=None, gt=0)
    gitops_watch: float | None = Field(default=None, ge=0, le=3600)
    gitops_resync: float | None = Field(default=None, gt=0)
    git_hosts: list[HostSettings] = Field(default_factory=list)
    tokens: TokenSettings | None = None


# Objects each controller reconciles at once by default: a slow catalog or policy answer for one
# application then holds one worker, and the others go on.
DEFAULT_WORKERS = 4


@dataclass(frozen=True)
class HubConfig:
    catalog: str
    policy: str
    policy_default: Literal["allow", "deny"] | None = None
    taxonomy: tuple[Path, ...] = ()
    connector_timeout: float = 5.0
    resync_after: float | None = None
    connector_recheck: float = RECHECK
    heartbeat_timeout: float = HEARTBEAT_TIMEOUT.total_seconds()
    offline_grace: float = OFFLINE_GRACE.total_seconds()
    workers: int = DEFAULT_WORKERS
    secrets_file: Path | None = None  # where application access tokens are minted (embedded default)
    gitops: GitOpsSettings | None = None  # where Plotters are committed (None: plan only, commit nothing)
    review_poll: float = 30.0
    gitops_watch: float = 2.0
    gitops_resync: float = 600.0
    tokens: TokenSettings | None = None  # a Kubernetes hub's token store (replaces secrets_file)

    @classmethod
    def load(cls, layout: HubLayout, path: Path | None = None) -> HubConfig:
        """The hub directory's settings (or the file `path`, which must exist), with the embedded defaults
        for what it does not say."""
        config = cls(
            catalog=f"file:{layout.root / 'catalog'}",
            policy=f"builtin:{layout.root / 'policies'}",
            secrets_file=layout.secrets_file,
        )
        if path is None:
            path = layout.root / "hub.yaml"
            if not path.exists():  # one that cannot be read (a directory, say) is refused, not ignored
                return config
        raw = load_yaml_file(path) or {}  # InvalidError names the file and line
        try:
            settings = HubFile.model_validate(raw)
        except ValidationError as exc:
            raise InvalidError(str(path), pydantic_errors(exc)) from None
        bad_specs = spec_errors(settings.catalog, settings.policy)
        if bad_specs:
            raise InvalidError(str(path), bad_specs)
        return replace(
            config,
            catalog=settings.catalog or config.catalog,
            policy=settings.policy or config.policy,
            policy_default=settings.policy_default,
            taxonomy=tuple(Path(p) for p in settings.taxonomy),
            connector_timeout=settings.connector_timeout or config.connector_timeout,
            resync_after=settings.resync_after,
            connector_recheck=settings.connector_recheck or config.connector_recheck,
            heartbeat_timeout=settings.heartbeat_timeout or config.heartbeat_timeout,
            offline_grace=config.offline_grace if settings.offline_grace is None else settings.offline_grace,
            workers=settings.workers or config.workers,
            review_poll=settings.review_poll or config.review_poll,
            gitops_watch=config.gitops_watch if settings.gitops_watch is None else settings.gitops_watch,
            gitops_resync=settings.gitops_resync or config.gitops_resync,
            tokens=settings.tokens,
            secrets_file=None if settings.tokens is not None else config.secrets_file,
        )


@dataclass
class HubControllers:
    """The controllers to run, and what to close when they stop."""

    application: ApplicationController
    controllers: list[Controller[Any]]
    closers: list[Any] = field(default_factory=list)

    def close(self) -> None:
        for closer in self.closers:
            closer.close()


def _secret_tokens(hub: Cluster, settings: TokenSettings) -> SecretTokens:
    from m4d.cluster.kube import KubeCluster  # noqa: PLC0415 - only a Kubernetes hub has Secrets
    from m4d.credentials.vault import VaultStore  # noqa: PLC0415

    if not isinstance(hub, KubeCluster) or not settings.kubernetes_secrets:
        raise PermanentError("hub.yaml tokens: application tokens as Secrets need a Kubernetes hub")
    vault = open_store(settings.vault) if settings.vault is not None else None
    if vault is not None and not isinstance(vault, VaultStore):
        raise PermanentError("hub.yaml tokens.vault must be a Vault credential source (kind: vault)")
    return SecretTokens(hub.manifests, vault)


def signing_keys(config: HubConfig, secrets_file: Path) -> Callable[[str], bytes]:
    """Where this hub keeps each member's Blueprint signing key: in Vault when hub.yaml's `tokens.vault`
    names one (every replica, and `m4d gitops` run beside the hub, sign with the key the member's agent
    reads there), else in the hub directory's secrets file."""
    from m4d.credentials.vault import VaultStore  # noqa: PLC0415

    if config.tokens is None or config.tokens.vault is None:
        return FileKeys(secrets_file)
    vault = open_store(config.tokens.vault)
    if not isinstance(vault, VaultStore):
        raise PermanentError("hub.yaml tokens.vault must be a Vault credential source (kind: vault)")
    return VaultKeys(vault)


def build_hub(hub: Cluster, config: HubConfig) -> HubControllers:
    taxonomy = Taxonomy.load(config.taxonomy)
    catalog = open_catalog(config.catalog, taxonomy=taxonomy, timeout=config.connector_timeout)
    policy = open_policy_manager(
        config.policy, taxonomy=taxonomy, timeout=config.connector_timeout, default=config.policy_default
    )
    secrets = config.tokens is not None and config.tokens.kubernetes_secrets
    store = _secret_tokens(hub, config.tokens) if config.tokens is not None else None
    # Where storage accounts' credentials are, to delete a deleted application's copies.
    storage: CredentialStore | None = store.vault if store is not None else None
    if store is None and config.secrets_file is not None:
        storage = SecretsFile(config.secrets_file)
    application = ApplicationController(
        hub,
        catalog=catalog,
        policy=policy,
        taxonomy=taxonomy,
        resync_after=config.resync_after,
        connector_recheck=config.connector_recheck,
        storage_credentials=storage,
        token_secrets=secrets,
    )
    heartbeat = timedelta(seconds=config.heartbeat_timeout)
    grace = timedelta(seconds=config.offline_grace)
    controllers: list[Controller[Any]] = [application, ClusterRegistry(hub, timeout=heartbeat, grace=grace)]
    closers: list[Any] = [application]
    gitops = config.gitops
    if store is not None:
        controllers.append(SecretTokenController(hub, store=store))
        closers.append(store)
        if gitops is not None and store.vault is not None:
            # Blueprint signing keys where every replica finds them and each member's agent reads its own.
            gitops = replace(gitops, keys=VaultKeys(store.vault))
    elif config.secrets_file is not None:
        controllers.append(TokenController(hub, secrets_file=config.secrets_file))
    if gitops is not None:
        plotter = PlotterController.for_hub(
            hub,
            gitops,
            resync_period=config.gitops_resync,
            review_poll=config.review_poll,
            drift_interval=config.gitops_watch,
        )
        controllers += [plotter, AggregatorController(hub)]
        closers.append(plotter)
    for controller in controllers:
        controller.workers = config.workers
    return HubControllers(application=application, controllers=controllers, closers=closers)
