"""The Gitea client (m4d.git.host.gitea) against a real Gitea: pull requests and every failure's translation."""

from __future__ import annotations

from pathlib import Path

import pytest

from m4d.errors import NotFoundError, PermanentError, TemporaryError, UnauthorizedError
from m4d.generator.naming import short_hash
from m4d.git import Mirror
from m4d.git.host import HostSettings, PullRequestDraft, open_host
from m4d.git.host.gitea import GiteaHost
from tests.integration.git.gitea_api import GiteaRepo, new_repo
from tests.testenv.gitea import Gitea
from tests.testenv.process import free_port

pytestmark = pytest.mark.integration


def push_branch(repo: GiteaRepo, tmp_path: Path, branch: str, content: bytes) -> str:
    mirror = Mirror(tmp_path / f"mirror-{short_hash(branch)}", repo.remote())
    base = mirror.fetch("main")
    commit = mirror.commit(base, {"clusters/a.yaml": content}, f"Change {branch}\n")
    mirror.push(commit, branch, force=True)
    mirror.close()
    return commit


def test_open_find_update_comment_close(gitea: Gitea, tmp_path: Path) -> None:
    repo = new_repo(gitea)
    host = GiteaHost(gitea.url, repo.project, gitea.token)
    try:
        assert host.find_pull("m4d/review/x/1", "main") is None
        push_branch(repo, tmp_path, "m4d/review/x/1", b"a: 1\n")
        opened = host.open_pull(PullRequestDraft("m4d/review/x/1", "main", "Add a", "first body"))
        assert opened.state == "open" and opened.branch == "m4d/review/x/1" and opened.target == "main"
        assert opened.url == f"{gitea.url}/{repo.project}/pulls/{opened.number}"
        assert host.find_pull("m4d/review/x/1", "main") == opened

        updated = host.update_pull(opened, "Add a (2)", "second body")
        assert (updated.number, updated.title, updated.body) == (opened.number, "Add a (2)", "second body")
        host.comment(updated, "a note for the reviewer")
        assert repo.comments(opened.number) == ["a note for the reviewer"]

        closed = host.close_pull(updated)
        assert closed.state == "closed"
        found = host.find_pull("m4d/review/x/1", "main")
        assert found is not None and found.state == "closed"

        push_branch(repo, tmp_path, "m4d/review/y/1", b"a: 2\n")
        second = host.open_pull(PullRequestDraft("m4d/review/y/1", "main", "Add b", "body"))
        repo.merge(second.number)
        merged = host.find_pull("m4d/review/y/1", "main")
        assert merged is not None and merged.state == "merged"
        assert host.file_url("m4d/review/y/1", "clusters/a.yaml") == (
            f"{gitea.url}/{repo.project}/src/branch/m4d/review/y/1/clusters/a.yaml"
        )
    finally:
        host.close()


def test_failures_are_translated_and_never_show_the_token(gitea: Gitea, tmp_path: Path) -> None:
    repo = new_repo(gitea)
    wrong = GiteaHost(gitea.url, repo.project, "0" * 40)
    with pytest.raises(UnauthorizedError) as refused:
        wrong.find_pull("m4d/review/x/1", "main")
    wrong.close()
    missing = GiteaHost(gitea.url, f"{gitea.admin}/no-such-repo", gitea.token)
    with pytest.raises(NotFoundError) as not_found:
        missing.find_pull("m4d/review/x/1", "main")
    missing.close()
    nobody = f"http://127.0.0.1:{free_port()}"
    down = GiteaHost(nobody, repo.project, gitea.token, timeout=2)
    with pytest.raises(TemporaryError) as unreachable:
        down.find_pull("m4d/review/x/1", "main")
    down.close()
    host = GiteaHost(gitea.url, repo.project, gitea.token)
    with pytest.raises(PermanentError) as rejected:  # no such branch: the host refuses the request
        host.open_pull(PullRequestDraft("m4d/review/none/1", "main", "t", "b"))
    host.close()
    for error, where in ((refused, gitea.url), (not_found, gitea.url), (unreachable, nobody), (rejected, gitea.url)):
        assert gitea.token not in str(error.value)
        assert where in str(error.value)  # names the host


def test_settings_take_the_token_from_a_reference(gitea: Gitea, tmp_path: Path) -> None:
    repo = new_repo(gitea)
    token_file = tmp_path / "token"
    token_file.write_text(gitea.token + "\n")
    settings = HostSettings(repository=repo.clone_url, provider="gitea", token_ref=f"file:{token_file}")
    assert gitea.token not in settings.model_dump_json()  # the settings hold the reference only
    host = open_host(settings)
    assert host.web_url == f"{gitea.url}/{repo.project}"
    assert host.find_pull("nothing", "main") is None
    host.close()
    by_env = HostSettings(repository=repo.clone_url, provider="forgejo", token_ref="env:GITEA_TEST_TOKEN")
    with pytest.raises(PermanentError, match="GITEA_TEST_TOKEN is not set"):
        open_host(by_env, environ={})
    env_host = open_host(by_env, environ={"GITEA_TEST_TOKEN": gitea.token})
    assert env_host.find_pull("nothing", "main") is None
    env_host.close()
