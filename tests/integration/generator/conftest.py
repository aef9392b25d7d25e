from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from m4d.git import init_bare
from tests.integration.generator.gitservers import git_daemon


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    """An empty bare repository whose default branch is main."""
    path = tmp_path / "remote" / "gitops.git"
    init_bare(path)
    return path


@pytest.fixture
def daemon_url(bare: Path) -> Iterator[str]:
    """The bare repository served by a real `git daemon` on loopback."""
    with git_daemon(bare.parent) as (url, _proc):
        yield f"{url}/{bare.name}"
