"""m4d.git: remote URLs, credentials from the environment, and git's errors in the project's words."""

from __future__ import annotations

import base64
import shlex
from pathlib import Path

import pytest
from git.exc import GitCommandError

from m4d.errors import PermanentError, TemporaryError, UnauthorizedError
from m4d.git import Remote
from m4d.git.errors import translate


def test_local_paths_become_file_urls(tmp_path: Path) -> None:
    remote = Remote.parse(str(tmp_path / "r.git"), {})
    assert remote.url == (tmp_path / "r.git").as_uri()
    assert remote.is_local and remote.local_path == tmp_path / "r.git"
    assert remote.env["GIT_TERMINAL_PROMPT"] == "0"


def test_http_credentials_move_from_the_url_to_the_environment() -> None:
    remote = Remote.parse("https://robot:t%40ken@git.example/r.git", {})
    assert remote.url == "https://git.example/r.git"
    header = remote.env["GIT_CONFIG_VALUE_0"]
    assert remote.env["GIT_CONFIG_KEY_0"] == "http.extraHeader"
    assert base64.b64decode(header.removeprefix("Authorization: Basic ")) == b"robot:t@ken"
    assert "t@ken" not in repr(remote)


def test_http_credentials_from_the_environment_win() -> None:
    remote = Remote.parse("https://git.example/r.git", {"M4D_GIT_USERNAME": "u", "M4D_GIT_PASSWORD": "p"})
    assert base64.b64decode(remote.env["GIT_CONFIG_VALUE_0"].split()[-1]) == b"u:p"
    assert "GIT_CONFIG_COUNT" not in Remote.parse("https://git.example/r.git", {}).env


@pytest.mark.parametrize("url", ["ssh://git@git.example:2222/org/r.git", "git@git.example:org/r.git"])
def test_ssh_uses_the_key_from_the_environment_without_prompting(url: str) -> None:
    remote = Remote.parse(url, {"M4D_GIT_SSH_KEY": "/keys/id", "M4D_GIT_SSH_KNOWN_HOSTS": "/keys/known"})
    assert remote.url == url
    command = shlex.split(remote.env["GIT_SSH_COMMAND"])
    assert command[:3] == ["ssh", "-o", "BatchMode=yes"]
    assert "/keys/id" in command and "UserKnownHostsFile=/keys/known" in command


def _error(stderr: str, status: int = 128) -> GitCommandError:
    return GitCommandError(["git", "fetch"], status, stderr.encode(), b"")


@pytest.mark.parametrize(
    ("stderr", "kind", "reason"),
    [
        ("fatal: unable to connect to 127.0.0.1:\nConnection refused", TemporaryError, "RemoteUnreachable"),
        ("fatal: Could not resolve host: git.example", TemporaryError, "RemoteUnreachable"),
        ("fatal: Authentication failed for 'https://git.example/r.git/'", UnauthorizedError, "Unauthorized"),
        ("git@git.example: Permission denied (publickey).", UnauthorizedError, "Unauthorized"),
        ("fatal: '/x' does not appear to be a git repository", PermanentError, "RepositoryNotFound"),
        ("fatal: something else entirely", TemporaryError, "GitError"),
    ],
)
def test_git_errors_are_translated(stderr: str, kind: type, reason: str) -> None:
    error = translate(_error(stderr), "fetch main", "https://git.example/r.git")
    assert type(error) is kind and error.reason == reason
    assert "https://git.example/r.git" in str(error)


def test_credentials_in_git_messages_are_redacted() -> None:
    error = translate(
        _error("fatal: unable to access 'https://u:secret@h/r.git/': Could not resolve host"), "fetch", "h"
    )
    assert "secret" not in str(error)
