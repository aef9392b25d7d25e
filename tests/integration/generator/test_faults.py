"""Bad remotes and refusals: clear errors, retries only where they make sense, never a partial commit."""

from __future__ import annotations

import base64
import stat
import subprocess
from pathlib import Path

import pytest

from m4d.errors import PermanentError, TemporaryError, UnauthorizedError
from m4d.generator.change import Change
from m4d.generator.changes import full_change
from m4d.generator.config import RenderConfig
from m4d.git import Mirror, Remote
from m4d.gitops.writer import GitOpsWriter
from tests.integration.generator.gitservers import free_port, git, git_daemon, http_git, wait_listening
from tests.testenv.small_disk import SmallDisk
from tests.unit.generator.plans import members, plotter

pytestmark = pytest.mark.integration

CONFIG = RenderConfig("https://git.example/m4d.git")


def change() -> Change:
    return full_change([plotter("a")], members(1), CONFIG)[0]


def test_unreachable_daemon_is_temporary(tmp_path: Path, bare: Path) -> None:
    with git_daemon(bare.parent) as (url, _):
        writer = GitOpsWriter(Mirror(tmp_path / "cache", Remote.parse(f"{url}/{bare.name}")))
        assert writer.write(change()).commit is not None
    with pytest.raises(TemporaryError) as info:
        writer.write(change())
    assert info.value.reason == "RemoteUnreachable"
    assert "unable to connect" in str(info.value)
    writer.close()


def test_a_missing_repository_is_permanent(tmp_path: Path) -> None:
    writer = GitOpsWriter(Mirror(tmp_path / "cache", Remote.parse(str(tmp_path / "nowhere.git"))))
    with pytest.raises(PermanentError) as info:
        writer.write(change())
    assert info.value.reason == "RepositoryNotFound"
    writer.close()


@pytest.mark.parametrize("url", ["ftp://host/repo.git", "https:///repo.git", ""])
def test_bad_urls_are_refused_before_any_git_call(url: str) -> None:
    with pytest.raises(PermanentError) as info:
        Remote.parse(url)
    assert info.value.reason == "BadURL"


def test_a_push_the_remote_refuses_is_permanent_and_leaves_no_commit(tmp_path: Path, bare: Path) -> None:
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'main is protected' >&2\nexit 1\n")
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)
    writer = GitOpsWriter(Mirror(tmp_path / "cache", Remote.parse(str(bare))))
    with pytest.raises(PermanentError) as info:
        writer.write(change())
    assert info.value.reason == "PushDenied"
    assert git("--git-dir", str(bare), "for-each-ref") == ""
    assert git("--git-dir", str(bare), "count-objects").startswith("0 objects")
    writer.close()


def test_a_full_disk_on_the_remote_is_temporary_and_the_push_lands_once_there_is_room(
    tmp_path: Path, bare: Path
) -> None:
    # The remote repository on a tmpfs of a few MB, served by git daemon from inside its namespace.
    with SmallDisk(bare.parent, "4m") as disk:
        port = free_port()
        daemon = subprocess.Popen(
            disk.command("git", "daemon", "--reuseaddr", f"--base-path={bare.parent}", "--export-all",
                         "--enable=receive-pack", "--listen=127.0.0.1", f"--port={port}", str(bare.parent)),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_listening(port, daemon)
            writer = GitOpsWriter(Mirror(tmp_path / "cache", Remote.parse(f"git://127.0.0.1:{port}/{bare.name}")))
            first = writer.write(change())
            assert first.commit is not None
            assert disk.fill() < 64 * 1024
            bigger = full_change([plotter("a"), plotter("b", assets=40)], members(3), CONFIG)[0]
            for _ in range(2):  # refused each time, never as a permanent denial
                with pytest.raises(TemporaryError) as info:
                    writer.write(bigger)
                assert info.value.reason == "RemoteStorageFull"
                assert "No space left on device" in str(info.value)
                assert "unpacker error" in str(info.value)
            assert writer.head() == first.commit  # the branch did not move
            disk.free()
            landed = writer.write(bigger)
            assert landed.commit is not None and writer.head() == landed.commit
            fsck_command = disk.command("git", "--git-dir", str(bare), "fsck", "--strict")
            fsck = subprocess.run(fsck_command, check=False, capture_output=True)
            assert fsck.returncode == 0, fsck.stderr.decode()
            # The refused pushes left no quarantine behind.
            assert not list(disk.inside(f"{bare.name}/objects").glob("tmp_objdir*")), "quarantine left behind"
            writer.close()
        finally:
            daemon.terminate()
            daemon.wait(10)


def test_http_credentials_come_from_the_environment_and_never_reach_the_repository(
    tmp_path: Path, bare: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = "tok-3f9a77c1e5"
    with http_git(bare.parent, "robot", password) as base:
        url = f"{base}/{bare.name}"
        with pytest.raises(UnauthorizedError, match="M4D_GIT_USERNAME"):
            GitOpsWriter(Mirror(tmp_path / "c0", Remote.parse(url))).write(change())
        monkeypatch.setenv("M4D_GIT_USERNAME", "robot")
        monkeypatch.setenv("M4D_GIT_PASSWORD", "wrong")
        with pytest.raises(UnauthorizedError):
            GitOpsWriter(Mirror(tmp_path / "c1", Remote.parse(url))).write(change())
        monkeypatch.setenv("M4D_GIT_PASSWORD", password)
        writer = GitOpsWriter(Mirror(tmp_path / "c2", Remote.parse(url)))
        plans = [plotter("a"), plotter("b", clusters=("member1",))]
        config = RenderConfig(f"https://robot:{password}@git.example/m4d.git")
        assert writer.write(full_change(plans, members(1), config)[0]).commit is not None
        monkeypatch.delenv("M4D_GIT_USERNAME")
        monkeypatch.delenv("M4D_GIT_PASSWORD")
        # Credentials written into the URL work the same way, and are taken out of it.
        inline = Remote.parse(url.replace("http://", f"http://robot:{password}@"))
        assert password not in inline.url
        assert GitOpsWriter(Mirror(tmp_path / "c3", inline)).write(change()).commit is not None
        writer.close()
    _assert_no_credentials(bare, [password, base64.b64encode(f"robot:{password}".encode()).decode()])
    for cache in ("c2", "c3"):
        _assert_no_credentials(tmp_path / cache, [password])


def _assert_no_credentials(repo: Path, secrets: list[str]) -> None:
    """Every object of the repository (all history, every branch) and its config, scanned."""
    objects = subprocess.run(
        ["git", "--git-dir", str(repo), "cat-file", "--batch-all-objects", "--batch"],
        capture_output=True,
        check=True,
    ).stdout
    assert objects, "nothing to scan"
    config = (repo / "config").read_bytes()
    for secret in [*secrets, "Authorization", "BEGIN PRIVATE KEY", "password:"]:
        assert secret.encode() not in objects, secret
        assert secret.encode() not in config, secret
