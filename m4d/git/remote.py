"""Where a repository is, and the environment git needs to reach it without ever prompting.

Accepted: a local path or `file://` URL (a bare repository on this machine), `git://` (a git daemon),
`http(s)://` and `ssh://` or `user@host:path`. Credentials come from the environment:

- http(s): `M4D_GIT_USERNAME` and `M4D_GIT_PASSWORD` (a token works as the password). Credentials
  written into the URL are taken out of it and handled the same way, so no URL that git prints, logs
  or stores carries them.
- ssh: `M4D_GIT_SSH_KEY` (a private key file) and optionally `M4D_GIT_SSH_KNOWN_HOSTS`.

They reach git as environment (`GIT_CONFIG_*`, `GIT_SSH_COMMAND`), never as command-line arguments.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from m4d.errors import PermanentError

ENV_USERNAME = "M4D_GIT_USERNAME"
ENV_PASSWORD = "M4D_GIT_PASSWORD"  # noqa: S105 - the name of a variable, not a password
ENV_SSH_KEY = "M4D_GIT_SSH_KEY"
ENV_SSH_KNOWN_HOSTS = "M4D_GIT_SSH_KNOWN_HOSTS"

_SCP_LIKE = re.compile(r"^(?:[^@/\s]+@)?[^:/\s]+:(?!//).+$")
_SCHEMES = ("file", "git", "http", "https", "ssh")


@dataclass(frozen=True)
class Remote:
    """A repository URL (credential-free) and the environment git runs with to reach it."""

    url: str
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def is_local(self) -> bool:
        return self.url.startswith("file://")

    @property
    def local_path(self) -> Path | None:
        return Path(unquote(urlsplit(self.url).path)) if self.is_local else None

    def __str__(self) -> str:
        return self.url

    @classmethod
    def parse(cls, url: str, environ: Mapping[str, str] | None = None) -> Remote:
        """Raise PermanentError (reason BadURL) for anything git could not use."""
        environ = os.environ if environ is None else environ
        env = {"GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}
        text = url.strip()
        if not text:
            raise PermanentError("the GitOps repository URL is empty", reason="BadURL")
        if "://" not in text and not _SCP_LIKE.match(text):
            return cls(Path(text).expanduser().resolve().as_uri(), env)
        if "://" not in text:  # user@host:path, as ssh understands it
            return cls(text, {**env, **_ssh_env(environ)})
        parts = urlsplit(text)
        if parts.scheme not in _SCHEMES:
            raise PermanentError(
                f"unsupported GitOps repository URL scheme {parts.scheme!r} in {_redact(text)}; "
                f"use one of {', '.join(_SCHEMES)} or a local path",
                reason="BadURL",
            )
        if parts.scheme in ("git", "http", "https", "ssh") and not parts.hostname:
            raise PermanentError(f"GitOps repository URL {_redact(text)} has no host", reason="BadURL")
        username, password = parts.username, parts.password
        host = parts.netloc.rsplit("@", 1)[-1]
        clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
        if parts.scheme in ("http", "https"):
            user = environ.get(ENV_USERNAME) or (unquote(username) if username else None)
            secret = environ.get(ENV_PASSWORD) or (unquote(password) if password else None)
            if secret:
                token = base64.b64encode(f"{user or 'git'}:{secret}".encode()).decode()
                env.update(
                    GIT_CONFIG_COUNT="1",
                    GIT_CONFIG_KEY_0="http.extraHeader",
                    GIT_CONFIG_VALUE_0=f"Authorization: Basic {token}",
                )
        elif parts.scheme == "ssh":
            if username:
                clean = urlunsplit((parts.scheme, f"{username}@{host}", parts.path, parts.query, parts.fragment))
            env.update(_ssh_env(environ))
        return cls(clean, env)


def _ssh_env(environ: Mapping[str, str]) -> dict[str, str]:
    command = ["ssh", "-o", "BatchMode=yes"]
    key = environ.get(ENV_SSH_KEY)
    if key:
        command += ["-i", key, "-o", "IdentitiesOnly=yes"]
    known = environ.get(ENV_SSH_KNOWN_HOSTS)
    if known:
        command += ["-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes"]
    return {"GIT_SSH_COMMAND": shlex.join(command)}


def _redact(text: str) -> str:
    """A URL fit for a message: any user:password@ part replaced."""
    return re.sub(r"://[^/@\s]*@", "://***@", text)


redact = _redact
