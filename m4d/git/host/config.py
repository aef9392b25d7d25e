"""Which Git host serves a GitOps repository, and where its token comes from.

In hub.yaml, one entry per repository (matched against the GitOps repository URL, credentials left out):

    gitHosts:
      - repository: https://git.example.com/platform/gitops.git
        provider: gitea                 # or forgejo (same API)
        tokenRef: env:GITEA_TOKEN       # or file:/run/secrets/gitea-token
        # url: https://git.example.com  # the server's root URL (default: scheme and host of `repository`)
        # project: platform/gitops      # OWNER/NAME on the host (default: the path of `repository`)

The token is read when the host is opened, from the environment or a file; it never enters the
configuration, Git, a log line or a status.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field

from m4d.api.meta import Model
from m4d.errors import PermanentError
from m4d.git.host.interface import GitHost
from m4d.git.remote import Remote

Provider = Literal["gitea", "forgejo"]
PROVIDERS: tuple[str, ...] = ("gitea", "forgejo")


class HostSettings(Model):
    repository: str = Field(min_length=1, description="The GitOps repository URL this entry is for")
    provider: Provider
    token_ref: str = Field(min_length=1, description="env:NAME or file:PATH holding the API token")
    url: str | None = Field(default=None, description="The host's root URL (default: from repository)")
    project: str | None = Field(default=None, description="OWNER/NAME (default: from repository)")

    def matches(self, repository: str) -> bool:
        return _same_repo(self.repository, repository)

    def server_url(self) -> str:
        if self.url:
            return self.url.rstrip("/")
        parts = urlsplit(public_url(self.repository))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PermanentError(
                f"cannot tell the Git host's API URL from repository {public_url(self.repository)}: set `url`",
                reason="BadURL",
            )
        return f"{parts.scheme}://{parts.netloc}"

    def project_path(self) -> str:
        if self.project:
            return self.project.strip("/")
        return urlsplit(public_url(self.repository)).path.strip("/").removesuffix(".git")


def public_url(url: str) -> str:
    """The URL as the writer holds it: credentials taken out."""
    return Remote.parse(url, environ={}).url


def _same_repo(a: str, b: str) -> bool:
    def norm(url: str) -> str:
        return public_url(url).rstrip("/").removesuffix(".git").lower()

    return norm(a) == norm(b)


def resolve_token(ref: str, environ: Mapping[str, str] | None = None) -> str:
    """The token a reference names. Errors name the reference, never a value."""
    environ = os.environ if environ is None else environ
    kind, sep, where = ref.partition(":")
    if not sep or not where or kind not in ("env", "file"):
        raise PermanentError(f"Git host token reference {ref!r} must be env:NAME or file:PATH", reason="BadTokenRef")
    if kind == "env":
        value = environ.get(where, "")
        if not value.strip():
            raise PermanentError(f"Git host token: environment variable {where} is not set", reason="TokenNotFound")
        return value.strip()
    try:
        value = Path(where).expanduser().read_text().strip()
    except OSError as exc:
        raise PermanentError(f"Git host token: cannot read {where} ({exc.strerror})", reason="TokenNotFound") from None
    if not value:
        raise PermanentError(f"Git host token: {where} is empty", reason="TokenNotFound")
    return value


def open_host(settings: HostSettings, environ: Mapping[str, str] | None = None) -> GitHost:
    token = resolve_token(settings.token_ref, environ)
    from m4d.git.host.gitea import GiteaHost  # noqa: PLC0415 - the provider's module only when used

    return GiteaHost(settings.server_url(), settings.project_path(), token)
