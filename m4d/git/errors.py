"""Git's failures in the project's words: temporary (try again), permanent (someone must act)."""

from __future__ import annotations

import re

from git.exc import GitCommandError

from m4d.errors import ConflictError, M4DError, PermanentError, TemporaryError, UnauthorizedError
from m4d.git.remote import redact


class PushRejected(ConflictError):
    """The branch moved since we read it (non-fast-forward): fetch, redo the change on top, push again."""

    reason = "PushRejected"


_UNREACHABLE = re.compile(
    r"unable to connect|could not resolve host|connection (refused|reset|timed out)|timed out|"
    r"failed to connect|network is unreachable|the remote end hung up unexpectedly|early eof|"
    r"could not read from remote repository|http 5\d\d|error: 5\d\d|returned error: 5\d\d",
    re.IGNORECASE,
)
_AUTH = re.compile(
    r"authentication failed|permission denied|returned error: 40[13]|http 40[13]|invalid username or password|"
    r"could not read username|terminal prompts disabled|host key verification failed",
    re.IGNORECASE,
)
_NOT_A_REPO = re.compile(
    r"does not appear to be a git repository|repository .* not found|not a git repository|"
    r"returned error: 404|unable to find remote helper|no such file or directory",
    re.IGNORECASE,
)


def _stderr(exc: GitCommandError) -> str:
    text = exc.stderr if isinstance(exc.stderr, str) else str(exc.stderr or "")
    text = text.strip().removeprefix("stderr:").strip().strip("'")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return redact(" ".join(lines)) or f"git exited with status {exc.status}"


def translate(exc: GitCommandError, action: str, remote: str) -> M4DError:
    """`action` says what we were doing ("fetch main"), `remote` where (credential-free)."""
    detail = _stderr(exc)
    where = f"{action} from {remote}" if action.startswith("fetch") else f"{action} at {remote}"
    if _AUTH.search(detail):
        return UnauthorizedError(
            f"git {where}: credentials refused ({detail}); set M4D_GIT_USERNAME/M4D_GIT_PASSWORD or "
            "M4D_GIT_SSH_KEY for the GitOps repository"
        )
    if _NOT_A_REPO.search(detail):
        return PermanentError(f"git {where}: not a reachable Git repository ({detail})", reason="RepositoryNotFound")
    if _UNREACHABLE.search(detail):
        return TemporaryError(f"git {where}: remote unreachable ({detail})", reason="RemoteUnreachable")
    return TemporaryError(f"git {where} failed: {detail}", reason="GitError")
