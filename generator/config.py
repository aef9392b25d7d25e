"""What the rendered tree depends on besides Plotters and clusters: where Argo CD finds the repository."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit


def public_url(url: str) -> str:
    """The repository URL without any user or password in it: fit to write into a manifest or a log."""
    parts = urlsplit(url)
    if not parts.netloc or "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class RenderConfig:
    """`repo_url` and `branch` are what the generated Argo CD Applications sync from.

    The URL is stored credential-free whatever it is given as (`https://user:token@host/...` becomes
    `https://host/...`): Argo CD takes repository credentials from its own secrets, never from Git.
    """

    repo_url: str
    branch: str = "main"
    argocd_namespace: str = "argocd"
    project: str = "m4d"
    # cluster -> that member's Blueprint signing key (m4d.credentials.signing); None renders unsigned
    # Blueprints, which agents refuse to run. Passed in, never looked up here: rendering stays pure.
    keys: Callable[[str], bytes] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "repo_url", public_url(self.repo_url))
