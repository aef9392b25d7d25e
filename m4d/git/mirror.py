"""A local bare repository that mirrors one remote: fetch, build commits without a work tree, push.

Commits are built by `git fast-import` from a base commit and a set of edits (path → content or
deletion), so their cost follows the size of the change, not of the repository, and nothing is ever
checked out. The remote stays the truth: a push is a compare-and-swap (a non-fast-forward is
rejected), and the local tracking refs only cache what the remote said last.
"""

from __future__ import annotations

import binascii
import fcntl
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from git import Reference, Repo, SymbolicReference
from git.exc import GitCommandError

from m4d.errors import M4DError, TemporaryError
from m4d.git.errors import PushRejected, push_refused, translate
from m4d.git.objects import Identity, fast_import_stream
from m4d.git.remote import Remote

DEFAULT_IDENTITY = Identity("m4d", "gitops@m4d.invalid")
NETWORK_TIMEOUT = 120.0  # seconds for one fetch or push before it counts as unreachable
_TRACKING = "refs/m4d/remote"
_STAGING = "refs/m4d/staging"
_GC_EVERY = 200
# How a push that lost a race reads: the branch moved (non-fast-forward), or another push held or
# changed the ref between the remote's check and its update.
_MOVED = ("[rejected]", "non-fast-forward", "fetch first", "failed to update ref", "failed to lock",
          "cannot lock ref", "incorrect old value")  # fmt: skip


def init_bare(path: Path, branch: str = "main") -> None:
    """Create an empty bare repository whose HEAD names `branch` (the embedded default's remote)."""
    if (path / "HEAD").exists():
        return
    path.mkdir(parents=True, exist_ok=True)
    Repo.init(path, bare=True, initial_branch=branch).close()


class Mirror:
    """The writer's working copy of `remote`, kept in `path` (created on first use)."""

    def __init__(self, path: Path, remote: Remote, identity: Identity = DEFAULT_IDENTITY) -> None:
        self.path = Path(path)
        self.remote = remote
        self.identity = identity
        self.path.mkdir(parents=True, exist_ok=True)
        with self.locked():
            if not (self.path / "HEAD").exists():
                Repo.init(self.path, bare=True).close()
        self._repo = Repo(self.path)
        self._commits = 0
        # Paths we pass are file names, never patterns.
        self._env = {**self.remote.env, "GIT_LITERAL_PATHSPECS": "1"}

    def close(self) -> None:
        self._repo.close()

    def __enter__(self) -> Mirror:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def locked(self, timeout: float = 60.0) -> Iterator[None]:
        """One writer at a time per mirror, across processes (the lock dies with its process)."""
        with (self.path / "m4d-writer.lock").open("a") as f:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise TemporaryError(f"another writer has held {self.path} for {timeout:.0f}s") from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    # -- plumbing -------------------------------------------------------------------------------

    def _exec(self, *args: str, network: bool = False, **kwargs: Any) -> Any:
        return self._repo.git.execute(
            ["git", *args], env=self._env, kill_after_timeout=NETWORK_TIMEOUT if network else None, **kwargs
        )

    def _error(self, exc: GitCommandError, action: str, network: bool) -> M4DError:
        if network and exc.status == -9:  # killed after NETWORK_TIMEOUT
            return TemporaryError(
                f"git {action} at {self.remote}: no answer in {NETWORK_TIMEOUT:.0f}s", reason="RemoteUnreachable"
            )
        return translate(exc, action, str(self.remote))

    def _run(self, action: str, *args: str, network: bool = False, **kwargs: Any) -> Any:
        try:
            return self._exec(*args, network=network, **kwargs)
        except GitCommandError as exc:
            raise self._error(exc, action, network) from None

    # -- remote ---------------------------------------------------------------------------------

    def fetch(self, branch: str) -> str | None:
        """The remote's head of `branch`, fetched; None if the branch does not exist (an empty repository)."""
        tracking = f"{_TRACKING}/{branch}"
        refspec = f"+refs/heads/{branch}:{tracking}"
        try:
            self._exec("fetch", "--quiet", "--no-tags", self.remote.url, refspec, network=True)
        except GitCommandError as exc:
            if "couldn't find remote ref" not in str(exc.stderr):
                raise self._error(exc, f"fetch {branch}", network=True) from None
            self._run("forget", "update-ref", "-d", tracking)
            return None
        return self.resolve(tracking)

    def known_head(self, branch: str) -> str | None:
        """What the remote's `branch` was when we last fetched or pushed it (no network)."""
        return self.resolve(f"{_TRACKING}/{branch}")

    def push(self, commit: str, branch: str, *, force: bool = False) -> None:
        """Make the remote `branch` point at `commit`. Without `force`, only as a fast-forward:
        PushRejected if the branch moved; PermanentError (PushDenied) if the remote's policy refuses it;
        TemporaryError if the remote could not store it (a full disk, a failed unpacker)."""
        refspec = f"{'+' if force else ''}{commit}:refs/heads/{branch}"
        try:
            self._exec("push", "--porcelain", "--quiet", self.remote.url, refspec, network=True)
        except GitCommandError as exc:
            out = f"{exc.stdout}\n{exc.stderr}"
            if any(sign in out for sign in _MOVED):
                raise PushRejected(f"{branch} at {self.remote} moved since it was read; fetch and redo") from None
            if "[remote rejected]" in out:
                raise push_refused(exc, branch, str(self.remote)) from None
            raise self._error(exc, f"push {branch}", network=True) from None
        Reference.create(self._repo, f"{_TRACKING}/{branch}", commit, force=True)

    def remote_branches(self, prefix: str) -> dict[str, str]:
        """{branch: head} of the remote's branches under `prefix` (e.g. "m4d/review/")."""
        pattern = f"refs/heads/{prefix}*"
        out: str = self._run("ls-remote", "ls-remote", "--heads", self.remote.url, pattern, network=True)
        heads: dict[str, str] = {}
        for line in out.splitlines():
            sha, _, ref = line.partition("\t")
            heads[ref.removeprefix("refs/heads/")] = sha
        return heads

    def remote_head(self, branch: str) -> str | None:
        """The remote's head of `branch` as it is now (ls-remote: nothing fetched), None if it has none."""
        ref = f"refs/heads/{branch}"
        out: str = self._run(f"ls-remote {branch}", "ls-remote", "--heads", self.remote.url, ref, network=True)
        for line in out.splitlines():
            sha, _, name = line.partition("\t")
            if name == ref:
                return sha
        return None

    def delete_branch(self, branch: str) -> None:
        self._run(f"delete {branch}", "push", "--quiet", self.remote.url, f":refs/heads/{branch}", network=True)

    # -- objects --------------------------------------------------------------------------------

    def resolve(self, ref: str) -> str | None:
        """The commit a ref of the mirror names (read from the ref files, no git process)."""
        try:
            sha: str = SymbolicReference.dereference_recursive(self._repo, ref)
        except ValueError:
            return None
        return sha

    def ls_tree(self, commit: str | None, paths: Iterable[str], recursive: bool = False) -> dict[str, str]:
        """{path: blob sha} of the files at `paths` (recursive: under them) in `commit`."""
        wanted = list(paths)
        if commit is None or not wanted:
            return {}
        args = ["ls-tree", "-z", *(["-r"] if recursive else []), commit, "--", *wanted]
        out: str = self._run("ls-tree", *args)
        entries: dict[str, str] = {}
        for record in out.split("\0"):
            if not record:
                continue
            info, _, path = record.partition("\t")
            _mode, kind, sha = info.split(" ")
            if kind == "blob":
                entries[path] = sha
        return entries

    def read_blob(self, sha: str) -> bytes:
        data: bytes = self._repo.odb.stream(binascii.a2b_hex(sha)).read()
        return data

    def commit_message(self, commit: str) -> str:
        message = self._repo.commit(commit).message
        return message if isinstance(message, str) else message.decode("utf-8", "replace")

    def parents(self, commit: str) -> list[str]:
        return [p.hexsha for p in self._repo.commit(commit).parents]

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        try:
            self._repo.git.execute(["git", "merge-base", "--is-ancestor", ancestor, descendant])
        except GitCommandError as exc:
            if exc.status == 1:
                return False
            raise translate(exc, "merge-base", str(self.path)) from None
        return True

    def commit(self, parent: str | None, edits: Mapping[str, bytes | None], message: str) -> str:
        """A new commit: `parent`'s tree with `edits` applied. Only objects are written; no ref moves
        except a private staging ref, so an interrupted commit leaves nothing a reader could see."""
        stream = fast_import_stream(_STAGING, parent, edits, message, self.identity, int(time.time()))
        with tempfile.TemporaryFile(dir=self.path) as f:
            f.write(stream)
            f.flush()
            f.seek(0)
            out: str = self._run("commit", "fast-import", "--quiet", "--force", istream=f)
        sha = out.strip().splitlines()[-1] if out.strip() else ""
        if len(sha) != 40:
            raise TemporaryError(f"git fast-import in {self.path} gave no commit (output {out!r})")
        self._commits += 1
        if self._commits % _GC_EVERY == 0:
            self._run("gc", "gc", "--auto", "--quiet")
        return sha
