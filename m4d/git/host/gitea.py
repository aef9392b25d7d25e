"""Gitea and Forgejo (same REST API, `/api/v1`): pull requests of one repository, token auth."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from m4d.errors import PermanentError
from m4d.git.host.errors import from_response, from_transport
from m4d.git.host.interface import GitHost, PullRequest, PullRequestDraft, PullState


def parse_pull(data: Any) -> PullRequest:
    """A pull request from the API's JSON (parsed at the edge: a malformed answer is a PermanentError)."""
    try:
        state: PullState = "merged" if data.get("merged") else ("open" if data["state"] == "open" else "closed")
        return PullRequest(
            number=int(data["number"]),
            url=str(data["html_url"]),
            state=state,
            branch=str(data["head"]["ref"]),
            target=str(data["base"]["ref"]),
            title=str(data.get("title") or ""),
            body=str(data.get("body") or ""),
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise PermanentError(f"the Git host answered with an unexpected pull request ({exc!r})") from None


class GiteaHost(GitHost):
    """`GiteaHost("https://gitea.example", "org/gitops", token)`: `url` is the server's root URL."""

    def __init__(self, url: str, repository: str, token: str, timeout: float = 10.0) -> None:
        owner, _, name = repository.strip("/").removesuffix(".git").partition("/")
        if not owner or not name or "/" in name:
            raise PermanentError(f"Git host repository must be OWNER/NAME (got {repository!r})", reason="BadURL")
        self.web_url = f"{url.rstrip('/')}/{owner}/{name}"
        self._host = url.rstrip("/")
        self._repo = f"/api/v1/repos/{quote(owner, safe='')}/{quote(name, safe='')}"
        self._client = httpx.Client(
            base_url=self._host,
            timeout=timeout,
            headers={"Authorization": f"token {token}", "Accept": "application/json"},
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def _call(self, what: str, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        try:
            response = self._client.request(method, self._repo + path, json=body)
        except httpx.HTTPError as exc:
            raise from_transport(self._host, what, exc) from None
        if response.status_code >= 300:
            raise from_response(self._host, what, response)
        return response

    def _pull(self, what: str, method: str, path: str, body: dict[str, Any] | None = None) -> PullRequest:
        response = self._call(what, method, path, body)
        try:
            data = response.json()
        except ValueError:
            raise PermanentError(f"{self._host}: {what}: the answer is not JSON") from None
        return parse_pull(data)

    def find_pull(self, branch: str, target: str) -> PullRequest | None:
        what = f"find the pull request of {branch}"
        path = f"/pulls/{quote(target, safe='')}/{quote(branch, safe='/')}"
        try:
            response = self._client.get(self._repo + path)
        except httpx.HTTPError as exc:
            raise from_transport(self._host, what, exc) from None
        if response.status_code == 404:
            # The same answer for "no such pull request" and "no such repository": tell them apart.
            self._call("read the repository", "GET", "")
            return None
        if response.status_code >= 300:
            raise from_response(self._host, what, response)
        return parse_pull(response.json())

    def open_pull(self, draft: PullRequestDraft) -> PullRequest:
        body = {"head": draft.branch, "base": draft.target, "title": draft.title, "body": draft.body}
        return self._pull(f"open a pull request for {draft.branch}", "POST", "/pulls", body)

    def update_pull(self, pull: PullRequest, title: str, body: str) -> PullRequest:
        number = pull.number
        return self._pull(f"update pull request #{number}", "PATCH", f"/pulls/{number}", {"title": title, "body": body})

    def comment(self, pull: PullRequest, text: str) -> None:
        number = pull.number
        self._call(f"comment on pull request #{number}", "POST", f"/issues/{number}/comments", {"body": text})

    def close_pull(self, pull: PullRequest) -> PullRequest:
        number = pull.number
        return self._pull(f"close pull request #{number}", "PATCH", f"/pulls/{number}", {"state": "closed"})

    def file_url(self, branch: str, path: str) -> str | None:
        return f"{self.web_url}/src/branch/{quote(branch, safe='/')}/{quote(path, safe='/')}"
