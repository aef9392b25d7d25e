"""Git host settings: which host serves which repository, and tokens taken from references only."""

from __future__ import annotations

from pathlib import Path

import pytest

from m4d.errors import PermanentError
from m4d.git.host import HostSettings, resolve_token
from m4d.git.host.files import DescriptionFiles
from m4d.gitops.settings import GitOpsSettings, load_git_hosts

REPO = "https://git.example.com/platform/gitops.git"


def test_token_references(tmp_path: Path) -> None:
    assert resolve_token("env:TOKEN", {"TOKEN": " s3cret\n"}) == "s3cret"
    (tmp_path / "t").write_text("from-file\n")
    assert resolve_token(f"file:{tmp_path / 't'}", {}) == "from-file"
    for bad, reason in (("TOKEN", "BadTokenRef"), ("vault:x", "BadTokenRef"), ("env:NONE", "TokenNotFound")):
        with pytest.raises(PermanentError) as error:
            resolve_token(bad, {})
        assert error.value.reason == reason
    (tmp_path / "empty").write_text("")
    with pytest.raises(PermanentError, match="is empty"):
        resolve_token(f"file:{tmp_path / 'empty'}", {})
    with pytest.raises(PermanentError, match="cannot read"):
        resolve_token(f"file:{tmp_path / 'missing'}", {})


def test_settings_derive_the_api_url_and_project() -> None:
    host = HostSettings.model_validate({"repository": REPO, "provider": "gitea", "tokenRef": "env:T"})
    assert host.server_url() == "https://git.example.com"
    assert host.project_path() == "platform/gitops"
    assert host.matches("https://m4d:pw@git.example.com/platform/gitops")  # credentials and .git aside
    assert not host.matches("https://git.example.com/platform/other.git")
    custom = host.model_copy(update={"url": "https://git.example.com/gitea/", "project": "org/repo"})
    assert (custom.server_url(), custom.project_path()) == ("https://git.example.com/gitea", "org/repo")
    ssh = HostSettings(repository="git@git.example.com:platform/gitops.git", provider="gitea", token_ref="env:T")
    with pytest.raises(PermanentError, match="set `url`"):
        ssh.server_url()


def test_gitops_settings_pick_the_host_of_their_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("M4D_GIT_HOST", "M4D_GIT_HOST_TOKEN_REF", "M4D_GITOPS_REPO", "M4D_GITOPS_MODE"):
        monkeypatch.delenv(name, raising=False)
    hub_yaml = tmp_path / "hub.yaml"
    hub_yaml.write_text(f"gitHosts:\n  - repository: {REPO}\n    provider: forgejo\n    tokenRef: env:GITEA_TOKEN\n")

    def resolve(repo: str, mode: str | None = None) -> GitOpsSettings:
        hosts = load_git_hosts(hub_yaml)
        return GitOpsSettings.resolve(tmp_path / "gitops.git", tmp_path, repo=repo, mode=mode, hosts=hosts)

    chosen = resolve(REPO, mode="review")
    assert chosen.host is not None and chosen.host.provider == "forgejo"
    other = resolve("https://git.example.com/platform/x.git", mode="review")
    assert other.host is None
    assert isinstance(other.open_writer().reviews, DescriptionFiles)  # the embedded default
    with pytest.raises(PermanentError, match="GITEA_TOKEN is not set"):
        chosen.open_writer()  # the token is read when the host is opened
    monkeypatch.setenv("M4D_GIT_HOST", "gitea")
    monkeypatch.setenv("M4D_GIT_HOST_TOKEN_REF", "file:/run/token")
    overridden = resolve(REPO)
    assert overridden.host is not None and (overridden.host.provider, overridden.host.token_ref) == (
        "gitea",
        "file:/run/token",
    )
    monkeypatch.setenv("M4D_GIT_HOST", "gitlab")
    with pytest.raises(PermanentError, match="gitea, forgejo"):
        resolve(REPO)
    hub_yaml.write_text("gitHosts:\n  - repository: x\n")
    monkeypatch.delenv("M4D_GIT_HOST")
    with pytest.raises(PermanentError, match="gitHosts is invalid"):
        resolve(REPO)
