"""What a person does on the Gitea of the test environment, through its REST API: make repositories,
merge or close pull requests, read comments. (The product's own client is m4d.git.host.gitea.)"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx

from m4d.git import Remote
from tests.testenv.gitea import Gitea


@dataclass
class GiteaRepo:
    server: Gitea
    owner: str
    name: str

    @property
    def clone_url(self) -> str:
        return f"{self.server.url}/{self.owner}/{self.name}.git"

    @property
    def project(self) -> str:
        return f"{self.owner}/{self.name}"

    def remote(self) -> Remote:
        """The repository as the writer reaches it: the admin's token as the HTTP password."""
        env = {"M4D_GIT_USERNAME": self.server.admin, "M4D_GIT_PASSWORD": self.server.token}
        return Remote.parse(self.clone_url, environ=env)

    def _api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        with httpx.Client(base_url=f"{self.server.url}/api/v1", timeout=30) as client:
            response = client.request(
                method, f"/repos/{self.owner}/{self.name}{path}", json=body,
                headers={"Authorization": f"token {self.server.token}"},
            )  # fmt: skip
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text[:500]}"
        return response.json() if response.content else None

    def pulls(self, state: str = "all") -> list[dict[str, Any]]:
        return list(self._api("GET", f"/pulls?state={state}&limit=50"))

    def pull(self, number: int) -> dict[str, Any]:
        return dict(self._api("GET", f"/pulls/{number}"))

    def merge(self, number: int, timeout: float = 60.0) -> None:
        """Merge as a person would, once Gitea has finished checking the pull request (it refuses a merge
        with 405 "try again later" while its background mergeability check runs, longer on a busy machine)."""
        deadline = time.monotonic() + timeout
        body = {"Do": "merge", "delete_branch_after_merge": False}
        while True:
            with httpx.Client(base_url=f"{self.server.url}/api/v1", timeout=30) as client:
                response = client.post(
                    f"/repos/{self.owner}/{self.name}/pulls/{number}/merge", json=body,
                    headers={"Authorization": f"token {self.server.token}"},
                )  # fmt: skip
            if response.status_code < 300:
                return
            if response.status_code != 405 or "try again later" not in response.text or time.monotonic() > deadline:
                raise AssertionError(f"merge #{number}: {response.status_code} {response.text[:500]}")
            time.sleep(0.3)

    def close(self, number: int) -> None:
        self._api("PATCH", f"/pulls/{number}", {"state": "closed"})

    def comments(self, number: int) -> list[str]:
        return [c["body"] for c in self._api("GET", f"/issues/{number}/comments")]

    def branches(self) -> list[str]:
        return sorted(b["name"] for b in self._api("GET", "/branches?limit=50"))


def new_repo(server: Gitea, prefix: str = "gitops") -> GiteaRepo:
    """A fresh repository of the admin, initialised with a README on main (a pull request needs a base)."""
    name = f"{prefix}-{secrets.token_hex(4)}"
    with httpx.Client(base_url=f"{server.url}/api/v1", timeout=30) as client:
        response = client.post(
            "/user/repos",
            json={"name": name, "auto_init": True, "default_branch": "main", "readme": "Default"},
            headers={"Authorization": f"token {server.token}"},
        )
    assert response.status_code == 201, response.text[:500]
    return GiteaRepo(server, server.admin, name)
