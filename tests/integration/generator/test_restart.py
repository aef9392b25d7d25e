"""Restart safety: a writer killed at any moment, then run again, makes exactly one commit."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from m4d.generator.changes import full_change
from m4d.generator.config import RenderConfig
from m4d.git import Mirror, Remote
from m4d.gitops.writer import GitOpsWriter
from tests.integration.generator.gitservers import git
from tests.unit.generator.plans import members, plotter

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def _run_writer(url: str, cache: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.generator.crash_writer", url, str(cache)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_killed_writers_then_a_full_run_leave_exactly_one_commit(tmp_path: Path, bare: Path) -> None:
    cache = tmp_path / "cache"
    rng = random.Random(42)
    for _ in range(5):
        proc = _run_writer(str(bare), cache)
        time.sleep(rng.uniform(0.5, 4.0))
        proc.kill()
        proc.communicate()
    proc = _run_writer(str(bare), cache)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    commits = git("--git-dir", str(bare), "rev-list", "main").split()
    assert len(commits) == 1
    assert out.strip() in (commits[0], "none")
    git("--git-dir", str(bare), "fsck", "--strict")
    git("--git-dir", str(cache), "fsck")
    tree = git("--git-dir", str(bare), "ls-tree", "-r", "--name-only", "main").split()
    assert len([f for f in tree if "/blueprints/" in f]) == 60


def test_a_commit_made_but_never_pushed_is_not_duplicated(tmp_path: Path, bare: Path) -> None:
    config = RenderConfig("https://git.example/m4d.git")
    change, _ = full_change([plotter("a")], members(1), config)
    mirror = Mirror(tmp_path / "cache", Remote.parse(str(bare)))
    # What a crash between commit and push leaves: a commit in the mirror, nothing on the remote.
    orphan = mirror.commit(mirror.fetch("main"), dict(change.files), "interrupted")
    writer = GitOpsWriter(mirror)
    result = writer.write(change)
    assert result.commit is not None and result.commit != orphan
    assert git("--git-dir", str(bare), "rev-list", "main").split() == [result.commit]
    # And a crash after the push (before anyone recorded it): the retry finds nothing to do.
    assert writer.write(change).commit is None
    writer.close()
