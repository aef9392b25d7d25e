"""Where the GitOps repository is and how to write to it, from flags and environment.

- `--gitops-repo URL` / `M4D_GITOPS_REPO`: the remote (a path, file://, git://, http(s)://, ssh). Unset:
  the embedded default repository the caller names (`<hub dir>/gitops.git`), created bare on first use.
- `M4D_GITOPS_BRANCH` (default main): the branch Argo CD syncs from.
- `M4D_GITOPS_MODE` (default direct): `direct` commits to the branch, `review` opens a branch and pull
  request description per change (written under `<work dir>/gitops-reviews/`).
- `M4D_ARGOCD_NAMESPACE` (default argocd): where the generated Argo CD objects live.
- `M4D_GITOPS_ARGOCD_URL`: the URL Argo CD fetches the repository from, when it differs from the one
  m4d pushes to (default: the same, without credentials).

The caller (CLI, hub) says where the embedded repository and the local working state (mirror clone,
review descriptions) live; the generator knows nothing of the hub directory's layout.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from m4d.errors import PermanentError
from m4d.generator.config import RenderConfig
from m4d.generator.naming import short_hash
from m4d.generator.review import DescriptionFiles
from m4d.generator.writer import GitOpsWriter, Mode
from m4d.git import Mirror, Remote, init_bare

ENV_REPO = "M4D_GITOPS_REPO"
ENV_BRANCH = "M4D_GITOPS_BRANCH"
ENV_MODE = "M4D_GITOPS_MODE"
ENV_ARGOCD_NAMESPACE = "M4D_ARGOCD_NAMESPACE"
ENV_ARGOCD_URL = "M4D_GITOPS_ARGOCD_URL"


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

    @classmethod
    def resolve(
        cls,
        embedded_repo: Path,
        work_dir: Path,
        repo: str | None = None,
        branch: str | None = None,
        mode: str | None = None,
    ) -> GitOpsSettings:
        """`embedded_repo`: the bare repository used when no remote is given; `work_dir`: local state."""
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
        )

    def render_config(self) -> RenderConfig:
        url = self.argocd_url or self.remote.url
        return RenderConfig(url, branch=self.branch, argocd_namespace=self.argocd_namespace)

    def open_writer(self, mode: Mode | None = None) -> GitOpsWriter:
        """The writer, creating the embedded bare repository first if that is the remote."""
        if self.embedded_repo is not None:
            init_bare(self.embedded_repo, self.branch)
        mirror = Mirror(self.cache_dir, self.remote)
        chosen = mode or self.mode
        reviews = DescriptionFiles(self.reviews_dir) if chosen == "review" else None
        return GitOpsWriter(mirror, branch=self.branch, mode=chosen, reviews=reviews)
