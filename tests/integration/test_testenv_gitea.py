"""The test environment's Gitea (tests/testenv/gitea.py): the pinned build, SQLite, a working admin token."""

from __future__ import annotations

import httpx
import pytest

from tests.testenv.gitea import Gitea
from tests.testenv.versions import GITEA_VERSION

pytestmark = pytest.mark.integration


def test_gitea_is_the_pinned_build_and_the_token_works(gitea: Gitea) -> None:
    with httpx.Client(base_url=f"{gitea.url}/api/v1", timeout=30) as client:
        assert client.get("/version").json()["version"] == GITEA_VERSION.lstrip("v")
        me = client.get("/user", headers={"Authorization": f"token {gitea.token}"})
        assert me.status_code == 200 and me.json()["login"] == gitea.admin and me.json()["is_admin"]
        assert client.get("/user").status_code == 401  # no token, no user
        assert client.post("/user/repos", json={"name": "x"}).status_code == 401
    assert (gitea.log.parent / "data" / "gitea.db").is_file()  # SQLite in the server's temp dir
    assert gitea.log.parent.name.startswith("m4d-gitea-")


def test_the_log_keeps_no_credential(gitea: Gitea) -> None:
    text = gitea.log.read_text()
    assert "admin user create" in text
    assert gitea.token not in text and gitea.password not in text
