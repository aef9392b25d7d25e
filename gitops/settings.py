"""Where the GitOps repository is and how to write to it, from flags and environment.

- `--gitops-repo URL` / `M4D_GITOPS_REPO`: the remote (a path, file://, git://, http(s)://, ssh). Unset:
  the embedded default repository the caller names (`<hub dir>/gitops.git`), created bare on first use.
- `M4D_GITOPS_BRANCH` (default main): the branch Argo CD syncs from.
- `M4D_GITOPS_MODE` (default direct): `direct` commits to the branch, `review` proposes each change in
  a pull request: on the Git host configured for the repository (hub.yaml `gitHosts`, or `M4D_GIT_HOST`
  with `M4D_GIT_HOST_TOKEN_REF`), else as description files under `<work dir>/gitops-reviews/`.
- `M4D_ARGOCD_NAMESPACE` (default argocd): where the generated Argo CD objects live.
- `M4D_GITOPS_ARGOCD_URL`: the URL Argo CD fetches the repository from, when it differs from the one
  m4d pushes to (default: the same, without credentials).

The caller (CLI, hub) says where the embedded repository and the local working state (mirror clone,
review descriptions) live; the generator knows nothing of the hub directory's layout.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from pydantic import ValidationError

from m4d.api.strict import load_yaml_file
from m4d.errors import PermanentError
from m4d.generator.config import RenderConfig
from m4d.generator.naming import short_hash
from m4d.git import Mirror, Remote, init_bare
from m4d.git.host import GitHost, HostSettings, open_host
from m4d.git.host.config import PROVIDERS
from m4d.git.host.files import DescriptionFiles
from m4d.gitops.writer import GitOpsWriter, Mode

ENV_REPO = "M4D_GITOPS_REPO"
ENV_BRANCH = "M4D_GITOPS_BRANCH"
ENV_MODE = "M4D_GITOPS_MODE"
ENV_ARGOCD_NAMESPACE = "M4D_ARGOCD_NAMESPACE"
ENV_ARGOCD_URL = "M4D_GITOPS_ARGOCD_URL"
ENV_HOST = "M4D_GIT_HOST"
ENV_HOST_TOKEN = "M4D_GIT_HOST_TOKEN_REF"  # noqa: S105 - the name of a variable, not a token


@dataclass(frozen=True)
class GitOpsSettings:
    remote: Remote
    branch: str
    mode: Mode
    cache_dir: Path
    reviews_dir: Path
    embedded_repo: Path | None
    argocd_namespace: str = "argocd"
    argocd_url: str | None = None
    host: HostSettings | None = None  # the Git host that takes review mode's pull requests
    # cluster -> the member's Blueprint signing key (the caller knows where keys are kept)
    keys: Callable[[str], bytes] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def resolve(
        cls,
        embedded_repo: Path,
        work_dir: Path,
        repo: str | None = None,
        branch: str | None = None,
        mode: str | None = None,
        hosts: Sequence[HostSettings] = (),
        host: str | None = None,
        host_token: str | None = None,
        keys: Callable[[str], bytes] | None = None,
    ) -> GitOpsSettings:
        """`embedded_repo`: the bare repository used when no remote is given; `work_dir`: local state;
        `hosts`: the configured Git hosts (hub.yaml `gitHosts`), of which the one for this repository is
        used unless `host` / `M4D_GIT_HOST` names a provider (token reference `host_token` or
        `M4D_GIT_HOST_TOKEN_REF`); `keys`: each member's Blueprint signing key."""
        url = repo or os.environ.get(ENV_REPO) or ""
        embedded = None if url else embedded_repo.resolve()
        remote = Remote.parse(url or str(embedded))
        chosen = (mode or os.environ.get(ENV_MODE) or "direct").lower()
        if chosen not in ("direct", "review"):
            raise PermanentError(f"GitOps mode must be direct or review (got {chosen!r})", reason="BadMode")
        return cls(
            remote=remote,
            branch=branch or os.environ.get(ENV_BRANCH) or "main",
            mode=cast(Mode, chosen),
            cache_dir=work_dir / "cache" / "gitops" / short_hash(remote.url, length=12),
            reviews_dir=work_dir / "gitops-reviews",
            embedded_repo=embedded,
            argocd_namespace=os.environ.get(ENV_ARGOCD_NAMESPACE) or "argocd",
            argocd_url=os.environ.get(ENV_ARGOCD_URL) or None,
            host=_host(remote, hosts, host or os.environ.get(ENV_HOST), host_token or os.environ.get(ENV_HOST_TOKEN)),
            keys=keys,
        )

    def render_config(self) -> RenderConfig:
        url = self.argocd_url or self.remote.url
        return RenderConfig(url, branch=self.branch, argocd_namespace=self.argocd_namespace, keys=self.keys)

    def open_writer(self, mode: Mode | None = None) -> GitOpsWriter:
        """The writer, creating the embedded bare repository first if that is the remote."""
        if self.embedded_repo is not None:
            init_bare(self.embedded_repo, self.branch)
        mirror = Mirror(self.cache_dir, self.remote)
        chosen = mode or self.mode
        reviews: GitHost | None = None
        if chosen == "review":
            reviews = open_host(self.host) if self.host is not None else DescriptionFiles(self.reviews_dir)
        return GitOpsWriter(mirror, branch=self.branch, mode=chosen, reviews=reviews)


def _host(
    remote: Remote, hosts: Sequence[HostSettings], provider: str | None, token_ref: str | None
) -> HostSettings | None:
    configured = next((h for h in hosts if h.matches(remote.url)), None)
    if provider is None:
        if token_ref is not None and configured is not None:
            return configured.model_copy(update={"token_ref": token_ref})
        return configured
    if provider not in PROVIDERS:
        raise PermanentError(f"Git host must be one of {', '.join(PROVIDERS)} (got {provider!r})", reason="BadHost")
    ref = token_ref or (configured.token_ref if configured is not None else None)
    if ref is None:
        raise PermanentError(
            f"a {provider} Git host needs a token reference: {ENV_HOST_TOKEN} or hub.yaml gitHosts tokenRef "
            "(env:NAME or file:PATH)",
            reason="BadTokenRef",
        )
    base = configured.model_dump() if configured is not None else {"repository": remote.url}
    return HostSettings.model_validate({**base, "provider": provider, "token_ref": ref})


def load_git_hosts(path: Path) -> list[HostSettings]:
    """The `gitHosts` entries of a hub.yaml (the whole file is validated by the hub's configuration loader)."""
    if not path.is_file():
        return []
    raw = load_yaml_file(path) or {}
    entries = raw.get("gitHosts") if isinstance(raw, dict) else None
    if not entries:
        return []
    try:
        return [HostSettings.model_validate(entry) for entry in entries]
    except (ValidationError, TypeError) as exc:
        raise PermanentError(f"{path}: gitHosts is invalid: {exc}", reason="BadConfig") from None
