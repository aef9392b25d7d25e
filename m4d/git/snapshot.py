"""Read a repository's files at one revision, as Argo CD's repo server does for a sync."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import git

from m4d.errors import NotFoundError, PermanentError, TemporaryError


@dataclass(frozen=True)
class Snapshot:
    revision: str
    files: dict[str, bytes] = field(default_factory=dict)


def head_revision(repo_path: str | Path, branch: str) -> str | None:
    """The commit a branch points at, or None while the repository has no such branch yet."""
    try:
        repo = git.Repo(str(repo_path))
    except (git.NoSuchPathError, git.InvalidGitRepositoryError):
        return None
    try:
        with repo:
            return str(repo.commit(branch).hexsha)
    except (git.BadName, ValueError):
        return None
    except git.GitCommandError as exc:
        raise TemporaryError(f"cannot read branch {branch} of {repo_path}: {exc.stderr.strip()}") from exc


def read_snapshot(repo_path: str | Path, revision: str, prefix: str = "") -> Snapshot:
    """Every file under `prefix` at `revision` (a commit id or branch name)."""
    try:
        repo = git.Repo(str(repo_path))
    except (git.NoSuchPathError, git.InvalidGitRepositoryError) as exc:
        raise NotFoundError(f"no Git repository at {repo_path}") from exc
    with repo:
        try:
            commit = repo.commit(revision)
        except (git.BadName, ValueError) as exc:
            raise NotFoundError(f"revision {revision} not found in {repo_path}") from exc
        files: dict[str, bytes] = {}
        tree = commit.tree
        if prefix:
            try:
                tree = tree / prefix.rstrip("/")
            except KeyError:
                return Snapshot(str(commit.hexsha), {})
        for item in tree.traverse():
            if isinstance(item, git.Blob):
                files[str(item.path)] = item.data_stream.read()
            elif not isinstance(item, git.Tree):
                raise PermanentError(f"{repo_path} at {revision} holds a submodule; the generated tree has none")
        return Snapshot(str(commit.hexsha), files)
