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


# A refusal that says the remote could not store the push (a full disk, a quota, a crashed unpacker or an
# internal error): nothing is wrong with the change itself, so the same push succeeds once it recovers.
_REMOTE_TRANSIENT = re.compile(
    r"no space left on device|disk quota exceeded|file too large|unpacker error|unpack-objects abnormal exit|"
    r"index-pack abnormal exit|unable to write|failed to write|unable to create|cannot create|out of memory|"
    r"cannot allocate memory|resource temporarily unavailable|input/output error|read-only file system|"
    r"internal (server )?error|service unavailable|try again|timed out",
    re.IGNORECASE,
)
_STORAGE = re.compile(r"no space left on device|disk quota exceeded|file too large", re.IGNORECASE)
# The remote's policy said no (whatever its hook printed beside): someone must act.
_POLICY = re.compile(
    r"hook declined|protected|denied|not allowed|prohibited|funny refname|shallow update|hidden ref|checked out",
    re.IGNORECASE,
)


def _output(value: object, label: str) -> str:
    """What git printed on one stream (GitPython quotes it as "  stderr: '...'")."""
    text = value if isinstance(value, str) else str(value or "")
    text = text.strip().removeprefix(f"{label}:").strip()
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "'" else text


def _stderr(exc: GitCommandError) -> str:
    lines = [line.strip() for line in _output(exc.stderr, "stderr").splitlines() if line.strip()]
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


def push_refused(exc: GitCommandError, branch: str, remote: str) -> M4DError:
    """A push the remote answered with `[remote rejected] <ref> (<why>)`, in the project's words.

    The remote's policy (a hook, a protected branch, a refused ref) is permanent: someone must act. The
    remote failing to store the push (its disk full, its unpacker dead) is temporary, and says so, so the
    writer retries with backoff and the push lands once the remote recovers.
    """
    output = f"{_output(exc.stdout, 'stdout')}\n{_output(exc.stderr, 'stderr')}"
    why = output.split("[remote rejected]", 1)[1].splitlines()[0].strip()
    detail = "; ".join(
        redact(line.strip().removeprefix("remote:").strip())
        for line in _output(exc.stderr, "stderr").splitlines()
        if line.strip() and "failed to push some refs" not in line
    )
    message = f"{remote} refused the push to {branch}: {why}" + (f" ({detail})" if detail else "")
    if _STORAGE.search(output):
        return TemporaryError(f"{message}; it is out of space, retrying until it has room", reason="RemoteStorageFull")
    if not _POLICY.search(why) and (_REMOTE_TRANSIENT.search(why) or _REMOTE_TRANSIENT.search(detail)):
        return TemporaryError(f"{message}; retrying", reason="RemoteStoreFailed")
    return PermanentError(message, reason="PushDenied")
