"""The embedded default Git host: each pull request is a Markdown description file in a folder."""

from __future__ import annotations

from pathlib import Path

from m4d.git.host.interface import GitHost, PullRequest, PullRequestDraft


class DescriptionFiles(GitHost):
    """The embedded default host: `<dir>/<branch as file name>.md` per open request; closing removes it."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder).absolute()  # its file:// URL goes into the pull request's place
        self.web_url = self.folder.as_uri()

    def _file(self, branch: str) -> Path:
        return self.folder / f"{branch.replace('/', '__')}.md"

    def _pull(self, branch: str, target: str, title: str = "", body: str = "") -> PullRequest:
        return PullRequest(0, self._file(branch).as_uri(), "open", branch, target, title, body)

    def find_pull(self, branch: str, target: str) -> PullRequest | None:
        path = self._file(branch)
        if not path.exists():
            return None
        title, _, rest = path.read_text().partition("\n\n")
        return self._pull(branch, target, title.removeprefix("# "), rest)

    def _write(self, branch: str, target: str, title: str, body: str) -> PullRequest:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._file(branch)
        text = f"# {title}\n\n{body}"
        if not path.exists() or path.read_text() != text:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text)
            tmp.replace(path)
        return self._pull(branch, target, title, body)

    def open_pull(self, draft: PullRequestDraft) -> PullRequest:
        return self._write(draft.branch, draft.target, draft.title, draft.body)

    def update_pull(self, pull: PullRequest, title: str, body: str) -> PullRequest:
        return self._write(pull.branch, pull.target, title, body)

    def comment(self, pull: PullRequest, text: str) -> None:
        """A file has no conversation: the comment is dropped with the file when it is closed."""

    def close_pull(self, pull: PullRequest) -> PullRequest:
        self._file(pull.branch).unlink(missing_ok=True)
        return PullRequest(0, pull.url, "closed", pull.branch, pull.target, pull.title, pull.body)

    def file_url(self, branch: str, path: str) -> str | None:
        return None
