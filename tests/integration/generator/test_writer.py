"""The Git writer against real repositories: a bare repository (file://) and `git daemon` (git://)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from m4d.generator.change import Change
from m4d.generator.changes import full_change, plotter_change, removal_change
from m4d.generator.config import RenderConfig
from m4d.git import Mirror, Remote
from m4d.gitops.writer import GitOpsWriter
from tests.integration.generator.gitservers import git
from tests.unit.generator.plans import members, plotter

pytestmark = pytest.mark.integration

CONFIG = RenderConfig("https://git.example/m4d/gitops.git")


def writer(tmp_path: Path, url: str, name: str = "cache") -> GitOpsWriter:
    return GitOpsWriter(Mirror(tmp_path / name, Remote.parse(url)))


def log(bare: Path) -> list[str]:
    return git("--git-dir", str(bare), "log", "--format=%H", "main").split()


def files_at(bare: Path, rev: str = "main") -> set[str]:
    return set(git("--git-dir", str(bare), "ls-tree", "-r", "--name-only", rev).split())


@pytest.fixture(params=["file", "daemon"])
def url(request: pytest.FixtureRequest, bare: Path) -> str:
    return str(bare) if request.param == "file" else str(request.getfixturevalue("daemon_url"))


def test_first_write_commits_the_tree_and_the_same_write_again_commits_nothing(
    tmp_path: Path, bare: Path, url: str
) -> None:
    plans = [plotter("a", clusters=("member1", "member2")), plotter("b")]
    change, errors = full_change(plans, members(2), CONFIG)
    assert not errors
    w = writer(tmp_path, url)
    first = w.write(change)
    assert first.commit is not None and first.revision == first.commit
    assert log(bare) == [first.commit]
    assert files_at(bare) == set(change.files)
    again = w.write(change)
    assert again.commit is None and again.revision == first.commit
    # A new writer (a restarted process, a fresh cache) agrees there is nothing to do.
    assert writer(tmp_path, url, "other-cache").write(change).commit is None
    assert log(bare) == [first.commit]
    w.close()


def test_one_application_changing_is_one_small_commit_with_trailers(tmp_path: Path, bare: Path, url: str) -> None:
    clusters = members(3)
    plans = [plotter(f"app{i}", clusters=(f"member{1 + i % 3}",)) for i in range(6)]
    w = writer(tmp_path, url)
    w.write(full_change(plans, clusters, CONFIG)[0])
    changed = plotter("app1", clusters=("member2", "member3"), redact=("ssn", "email"), generation=2)
    result = w.write(plotter_change(changed, clusters, CONFIG))
    assert result.commit is not None
    stat = git("--git-dir", str(bare), "show", "--name-status", "--format=", "main").split("\n")
    assert sorted(line.split("\t")[0] for line in stat if line) == ["A", "M"]
    message = git("--git-dir", str(bare), "log", "-1", "--format=%B", "main")
    subject = message.splitlines()[0]
    assert subject == "Update default/app1 on member2, member3"
    assert "member3: added clusters/member3/blueprints/" in message
    assert "member2: updated clusters/member2/blueprints/" in message
    trailers = git("--git-dir", str(bare), "log", "-1", "--format=%(trailers:only)", "main")
    assert trailers.split("\n")[:3] == [
        "M4D-Plotter: default/app1",
        "M4D-Plotter-Generation: 2",
        "M4D-Application-UID: uid-default-app1",
    ]
    w.close()


def test_a_deleted_plotter_removes_its_blueprints_in_one_commit(tmp_path: Path, bare: Path) -> None:
    clusters = members(2)
    gone = plotter("gone", clusters=("member1", "member2"))
    w = writer(tmp_path, str(bare))
    w.write(full_change([gone, plotter("stays")], clusters, CONFIG)[0])
    result = w.write(removal_change(gone, [c.name for c in clusters], "Plotter default/gone was deleted."))
    assert result.commit is not None
    assert not [f for f in files_at(bare) if "default-gone" in f]
    assert [f for f in files_at(bare) if "default-stays" in f]
    message = git("--git-dir", str(bare), "log", "-1", "--format=%B", "main")
    assert message.startswith("Remove default/gone from member1, member2\n\nPlotter default/gone was deleted.")
    assert w.write(removal_change(gone, ["member1", "member2"], "again")).commit is None
    w.close()


def test_a_full_sync_undoes_hand_edits_and_leaves_other_files_alone(tmp_path: Path, bare: Path) -> None:
    clusters = members(2)
    change = full_change([plotter("a"), plotter("b")], clusters, CONFIG)[0]
    w = writer(tmp_path, str(bare))
    w.write(change)
    clone = tmp_path / "clone"
    git("clone", "-q", str(bare), str(clone))
    blueprint = next(p for p in change.files if "/blueprints/" in p)
    (clone / blueprint).write_text((clone / blueprint).read_text().replace("RedactColumn", "Nothing"))
    (clone / "clusters/member1/blueprints/stray.yaml").write_text("kind: Secret\n")
    (clone / "README.md").write_text("# our GitOps repository\n")
    git("-c", "user.name=admin", "-c", "user.email=admin@example.org", "commit", "-qam", "hand edit", cwd=clone)
    git("add", "-A", cwd=clone)
    git("-c", "user.name=admin", "-c", "user.email=admin@example.org", "commit", "-qm", "more by hand", cwd=clone)
    git("push", "-q", "origin", "main", cwd=clone)

    result = w.write(change)
    assert result.foreign and result.commit is not None
    assert files_at(bare) == set(change.files) | {"README.md"}
    assert git("--git-dir", str(bare), "show", f"main:{blueprint}").encode() == change.files[blueprint]
    message = git("--git-dir", str(bare), "log", "-1", "--format=%B", "main")
    assert "removed clusters/member1/blueprints/stray.yaml (not generated by m4d)" in message
    w.close()


def test_diverged_history_is_written_on_top_of_the_new_head(tmp_path: Path, bare: Path) -> None:
    clusters = members(1)
    w = writer(tmp_path, str(bare))
    w.write(full_change([plotter("a")], clusters, CONFIG)[0])
    # Someone rewrites the branch: an unrelated root commit is force-pushed over ours.
    other = tmp_path / "other"
    git("init", "-q", "-b", "main", str(other))
    (other / "NOTES").write_text("rewritten\n")
    git("add", "-A", cwd=other)
    git("-c", "user.name=x", "-c", "user.email=x@example.org", "commit", "-qm", "rewrite", cwd=other)
    git("push", "-q", "--force", str(bare), "main", cwd=other)
    result = w.write(plotter_change(plotter("b"), clusters, CONFIG))
    head = log(bare)
    assert result.commit == head[0] and len(head) == 2  # on top of the rewrite, not of our old head
    assert "NOTES" in files_at(bare)
    w.close()


def test_concurrent_writers_lose_no_change(tmp_path: Path, bare: Path, daemon_url: str) -> None:
    clusters = members(2)
    base = full_change([], clusters, CONFIG)[0]
    writer(tmp_path, daemon_url, "seed").write(base)
    writers = [writer(tmp_path, daemon_url, f"w{i}") for i in range(3)]
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            for n in range(3):
                p = plotter(f"w{index}-app{n}", clusters=("member1",))
                writers[index].write(plotter_change(p, clusters, CONFIG))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    blueprints = [f for f in files_at(bare) if "/blueprints/" in f]
    assert len(blueprints) == 9
    history = git("--git-dir", str(bare), "log", "--format=%s", "main").splitlines()
    assert len(history) == 10  # the seed and one commit per change: no duplicates, nothing lost
    assert git("--git-dir", str(bare), "rev-list", "--merges", "main") == ""
    for w in writers:
        w.close()


def test_an_empty_change_on_an_empty_repository_makes_no_commit(tmp_path: Path, bare: Path) -> None:
    w = writer(tmp_path, str(bare))
    result = w.write(Change(files={}))
    assert result.revision is None and result.commit is None
    assert git("--git-dir", str(bare), "for-each-ref") == ""
    w.close()
